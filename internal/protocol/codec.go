package protocol

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"strings"
	"sync"
)

// Default body limits. A report of 20,000 packages is about 8 MiB of JSON and 1 MiB gzipped;
// one at every count limit of Validate (50,000 packages, 100,000 events, 20,000 services and
// listeners), with fields of common length, is about 38 MiB of JSON: the decompressed limit
// leaves room for longer fields, and the counts are enforced as the body is read.
const (
	DefaultMaxCompressedBytes   = 8 << 20
	DefaultMaxDecompressedBytes = 64 << 20
	// MaxEnrollBytes bounds an enroll request, compressed or not.
	MaxEnrollBytes = 64 << 10
)

// Limits bound a request body before (Compressed) and after (Decompressed) gzip decoding.
// A limit of zero or less is the default one.
type Limits struct {
	Compressed   int64
	Decompressed int64
}

// DefaultLimits are the limits the collector applies unless configured otherwise.
var DefaultLimits = Limits{Compressed: DefaultMaxCompressedBytes, Decompressed: DefaultMaxDecompressedBytes}

// Error is a request the collector refuses, with the HTTP status to answer.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// Errorf returns an *Error with the given status.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// ErrTooLarge is wrapped by the errors for bodies over a limit.
var ErrTooLarge = errors.New("body too large")

// marshalWriters keep Marshal's compressors between calls: a gzip writer's state is over a
// megabyte, which each report would otherwise allocate and clear.
var marshalWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return zw
}}

// Marshal encodes v as gzip-compressed JSON, the body of a request with
// "Content-Encoding: gzip".
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	zw := marshalWriters.Get().(*gzip.Writer)
	defer marshalWriters.Put(zw)
	zw.Reset(&buf)
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode reads one JSON value from body into v. encoding is the request's Content-Encoding
// ("" or "identity" for plain JSON, "gzip"). The compressed body may hold at most
// lim.Compressed bytes and its decoded form at most lim.Decompressed; a larger body (a zip
// bomb included) is refused with 413 before it is decoded further. The lists of the
// request types are counted while the body is read (see listLimits): one over its bound is
// refused with a 400 naming it as soon as its first extra entry arrives, so that what a
// body costs in memory is bounded by what a legal one can cost. Malformed input is a 400
// naming what is wrong; anything after the JSON value is refused too.
func Decode(body io.Reader, encoding string, lim Limits, v any) error {
	return DecodeCharged(body, encoding, lim, nil, v)
}

// DecodeCharged is Decode that calls charge with every increase of the memory it holds
// for the decompressed body, before taking it; an error from charge ends the decoding with
// that error. The caller keeps the account (and gives it back once v is dealt with): this is
// how a server bounds the memory of all the bodies it decodes at once.
func DecodeCharged(body io.Reader, encoding string, lim Limits, charge func(n int64) error, v any) error {
	if lim.Compressed <= 0 {
		lim.Compressed = DefaultMaxCompressedBytes
	}
	if lim.Decompressed <= 0 {
		lim.Decompressed = DefaultMaxDecompressedBytes
	}
	// Read one byte past a limit to tell a body that reaches it from one that exceeds it.
	lim.Compressed = min(lim.Compressed, math.MaxInt64-1)
	lim.Decompressed = min(lim.Decompressed, math.MaxInt64-1)
	counted := &countingReader{r: io.LimitReader(body, lim.Compressed+1)}
	r, done, err := decompressing(counted, encoding, lim)
	if err != nil {
		return err
	}
	defer done()
	// Read the whole body first, so that the limits are checked before decoding starts and
	// a truncated body is told apart from a malformed one; count its lists as it arrives.
	cnt := counter{next: shapeOf(reflect.TypeOf(v)), after: -1}
	data, err := readCounting(r, counted, lim, charge, &cnt)
	if err != nil {
		return err
	}
	cnt.eof()
	if len(bytes.TrimLeft(data, " \t\r\n")) == 0 {
		return Errorf(http.StatusBadRequest, "malformed JSON: empty body")
	}
	value := data
	if cnt.done && (!cnt.broken || cnt.after >= 0) {
		value = data[:cnt.end] // the rest is white space, or refused below
	}
	if cnt.after >= 0 && json.Valid(value) {
		return Errorf(http.StatusBadRequest, "malformed JSON: data after the value (at byte %d)", cnt.after)
	}
	if err := json.Unmarshal(value, v); err != nil {
		return Errorf(http.StatusBadRequest, "malformed JSON: %s", jsonError(err, data))
	}
	return nil
}

// gunzips keeps gzip readers, with the buffer they read the compressed body through,
// between bodies: a reader's window (32 KiB), tables and buffer would otherwise be allocated
// for every request.
var gunzips sync.Pool

type gunzip struct {
	br *bufio.Reader
	zr *gzip.Reader
}

// decompressing returns the reader of the decompressed body, limited to one byte over
// lim.Decompressed, and what to call once it is read.
func decompressing(counted *countingReader, encoding string, lim Limits) (io.Reader, func(), error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
		if lim.Decompressed < lim.Compressed {
			return io.LimitReader(counted, lim.Decompressed+1), func() {}, nil
		}
		return counted, func() {}, nil
	case "gzip", "x-gzip":
		g, _ := gunzips.Get().(*gunzip)
		if g == nil {
			g = &gunzip{br: bufio.NewReaderSize(counted, 4<<10)}
		} else {
			g.br.Reset(counted)
		}
		var err error
		if g.zr == nil {
			g.zr, err = gzip.NewReader(g.br)
		} else {
			err = g.zr.Reset(g.br)
		}
		if err != nil {
			g.br.Reset(nil)
			gunzips.Put(g)
			var mbe *http.MaxBytesError
			switch {
			case counted.n > lim.Compressed:
				return nil, nil, tooLarge("compressed body", lim.Compressed)
			case errors.As(err, &mbe):
				return nil, nil, tooLarge("body", mbe.Limit)
			}
			return nil, nil, Errorf(http.StatusBadRequest, "body is not gzip: %v", err)
		}
		// A gzip body may hold several members (RFC 1952), read one after the other; bytes
		// after the last member that do not start another are malformed, not ignored.
		return io.LimitReader(g.zr, lim.Decompressed+1), func() {
			g.zr.Close()
			g.br.Reset(nil)
			gunzips.Put(g)
		}, nil
	default:
		return nil, nil, Errorf(http.StatusUnsupportedMediaType, "unsupported Content-Encoding %q (want gzip or none)", encoding)
	}
}

// readCounting reads the decompressed body whole, charging for its buffer before it grows,
// checking both limits as bytes arrive, and feeding the list counter.
func readCounting(r io.Reader, counted *countingReader, lim Limits, charge func(n int64) error, cnt *counter) ([]byte, error) {
	var data []byte
	for {
		if len(data) == cap(data) {
			grown := min(max(2*int64(cap(data)), 1<<10), lim.Decompressed+1)
			if charge != nil {
				if err := charge(grown - int64(cap(data))); err != nil {
					return nil, err
				}
			}
			data = append(make([]byte, 0, grown), data...)
		}
		n, err := r.Read(data[len(data):cap(data)])
		if counted.n > lim.Compressed {
			return nil, tooLarge("body", lim.Compressed)
		}
		if int64(len(data)+n) > lim.Decompressed {
			return nil, tooLarge("decompressed body", lim.Decompressed)
		}
		if n > 0 {
			if err := cnt.feed(data[len(data) : len(data)+n]); err != nil {
				return nil, err
			}
			data = data[:len(data)+n]
		}
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooLarge("body", mbe.Limit)
			}
			return nil, Errorf(http.StatusBadRequest, "reading body: %v", err)
		}
	}
}

func tooLarge(what string, limit int64) error {
	return &wrapped{e: Errorf(http.StatusRequestEntityTooLarge, "%s over the limit of %d bytes", what, limit), is: ErrTooLarge}
}

// wrapped is an *Error that also matches a sentinel error.
type wrapped struct {
	e  *Error
	is error
}

func (w *wrapped) Error() string   { return w.e.Msg }
func (w *wrapped) Unwrap() []error { return []error{w.e, w.is} }

// jsonError says where in the body a decoding error is.
func jsonError(err error, data []byte) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se) && se.Offset >= int64(len(bytes.TrimRight(data, " \t\r\n"))) && strings.Contains(se.Error(), "unexpected end"):
		return fmt.Sprintf("body ends early (after %d bytes)", len(data))
	case errors.As(err, &se):
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "value"
		}
		return fmt.Sprintf("%s: want %s, got JSON %s (at byte %d)", field, te.Type, te.Value, te.Offset)
	}
	return err.Error()
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
