package protocol

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/testutil/fixture"
)

func gzipped(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func gunzipped(tb testing.TB, b []byte) []byte {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// testReports returns a full report, a delta and a heartbeat of the debian12 host.
func testReports(tb testing.TB) map[string]*Report {
	tb.Helper()
	full := reportFor(tb, fixture.Golden(tb, "debian12"))
	inv := fixture.Golden(tb, "debian12")
	inv.Software[0].Version += ".1"
	inv.Software[0].InstallTime = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	inv.Host.Labels["team"] = "web"
	next, c := FromInventory(inv)
	delta := &Report{
		HostID: full.HostID, Seq: 2, Kind: KindDelta, SentAt: full.SentAt.Add(time.Minute), AgentVersion: "0.1.0",
		BaseHash: full.Hash, Hash: Hash(&next), Delta: Diff(full.State, &next), Capacity: c,
		Events: Events(full.State, &next, full.SentAt.Add(time.Minute)),
	}
	heartbeat := &Report{
		HostID: full.HostID, Seq: 3, Kind: KindHeartbeat, SentAt: full.SentAt.Add(2 * time.Minute),
		BaseHash: delta.Hash, Hash: delta.Hash, Capacity: c, EventsDropped: 3,
	}
	return map[string]*Report{"full": full, "delta": delta, "heartbeat": heartbeat}
}

func TestMarshalDecodeRoundTrip(t *testing.T) {
	for name, r := range testReports(t) {
		t.Run(name, func(t *testing.T) {
			body, err := Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			plain := gunzipped(t, body)
			if bytes.Contains(plain, []byte(`\u003c`)) {
				t.Errorf("Marshal escapes HTML characters")
			}
			for _, enc := range []struct {
				name, encoding string
				body           []byte
			}{{"gzip", "gzip", body}, {"x-gzip", "X-GZIP", body}, {"plain", "", plain}, {"identity", "identity", plain}} {
				var got Report
				if err := Decode(bytes.NewReader(enc.body), enc.encoding, DefaultLimits, &got); err != nil {
					t.Fatalf("%s: %v", enc.name, err)
				}
				if g, w := mustJSON(t, &got), mustJSON(t, r); g != w {
					t.Errorf("%s: decoded\n%s\nwant\n%s", enc.name, g, w)
				}
				if err := Validate(&got); err != nil {
					t.Errorf("%s: %v", enc.name, err)
				}
			}
		})
	}
	t.Run("enroll", func(t *testing.T) {
		req := EnrollRequest{EnrollSecret: "s3cret", HostID: "web-01", Hostname: "web-01.example.com", AgentVersion: "0.1.0"}
		body, err := Marshal(&req)
		if err != nil {
			t.Fatal(err)
		}
		var got EnrollRequest
		if err := Decode(bytes.NewReader(body), "gzip", Limits{Compressed: MaxEnrollBytes, Decompressed: MaxEnrollBytes}, &got); err != nil {
			t.Fatal(err)
		}
		if got != req {
			t.Errorf("decoded %+v, want %+v", got, req)
		}
	})
}

// countingBody counts what Decode reads from a body.
type countingBody struct {
	r io.Reader
	n int
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// zipBomb returns n zero bytes, gzip-compressed to about an 800th of that.
func zipBomb(n int) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zeros := make([]byte, 1<<16)
	for written := 0; written < n; written += len(zeros) {
		zw.Write(zeros) // a bytes.Buffer takes everything
	}
	zw.Close()
	return buf.Bytes()
}

// bomb is 32 MiB of zeros in 40 KiB of gzip.
var bomb = sync.OnceValue(func() []byte { return zipBomb(32 << 20) })

func TestDecodeErrors(t *testing.T) {
	valid := []byte(`{"host_id":"web-01","seq":1}`)
	multi := append(gzipped(t, []byte(`{"host_id":"web-01",`)), gzipped(t, []byte(`"seq":1}`))...)
	bomb := bomb()
	full := gzipped(t, valid)
	cases := []struct {
		name     string
		body     []byte
		encoding string
		lim      Limits
		status   int    // 0: no error
		msg      string // in the error message
	}{
		{"plain", valid, "", DefaultLimits, 0, ""},
		{"gzip", full, "gzip", DefaultLimits, 0, ""},
		{"encoding with spaces", full, " gzip ", DefaultLimits, 0, ""},
		{"zero limits are the defaults", full, "gzip", Limits{}, 0, ""},
		{"concatenated gzip members", multi, "gzip", DefaultLimits, 0, ""},
		{"trailing newline", append(valid, '\n', ' ', '\t', '\r'), "", DefaultLimits, 0, ""},
		{"at the compressed limit", valid, "", Limits{Compressed: int64(len(valid)), Decompressed: 1 << 20}, 0, ""},
		{"at the decompressed limit", full, "gzip", Limits{Compressed: 1 << 20, Decompressed: int64(len(valid))}, 0, ""},
		{"huge limits", valid, "", Limits{Compressed: 1<<63 - 1, Decompressed: 1<<63 - 1}, 0, ""},

		{"unknown encoding", full, "br", DefaultLimits, 415, `"br"`},
		{"two encodings", full, "gzip, identity", DefaultLimits, 415, "Content-Encoding"},
		{"plain over the compressed limit", valid, "", Limits{Compressed: int64(len(valid)) - 1, Decompressed: 1 << 20}, 413, "limit of 27 bytes"},
		{"plain over the decompressed limit", valid, "", Limits{Compressed: 1 << 20, Decompressed: 10}, 413, "decompressed body over the limit of 10 bytes"},
		{"gzip over the compressed limit", bomb, "gzip", Limits{Compressed: 1024, Decompressed: 64 << 20}, 413, "limit of 1024 bytes"},
		{"gzip header over the compressed limit", full, "gzip", Limits{Compressed: 5, Decompressed: 1 << 20}, 413, "compressed body over the limit of 5 bytes"},
		{"zip bomb", bomb, "gzip", Limits{Compressed: 1 << 20, Decompressed: 1 << 20}, 413, "decompressed body over the limit of 1048576 bytes"},
		{"gzip over the decompressed limit", full, "gzip", Limits{Compressed: 1 << 20, Decompressed: int64(len(valid)) - 1}, 413, "decompressed"},

		{"empty body", nil, "", DefaultLimits, 400, "empty body"},
		{"only white space", []byte(" \n\t"), "", DefaultLimits, 400, "empty body"},
		{"empty gzip body", nil, "gzip", DefaultLimits, 400, "not gzip"},
		{"gzip of nothing", gzipped(t, nil), "gzip", DefaultLimits, 400, "empty body"},
		{"not gzip", valid, "gzip", DefaultLimits, 400, "not gzip"},
		{"truncated gzip", full[:len(full)-10], "gzip", DefaultLimits, 400, "reading body"},
		{"gzip checksum", append(full[:len(full)-8:len(full)-8], 0, 0, 0, 0, 0, 0, 0, 0), "gzip", DefaultLimits, 400, "checksum"},
		{"garbage after gzip", append(full[:len(full):len(full)], "garbage"...), "gzip", DefaultLimits, 400, "reading body"},
		{"truncated JSON", valid[:15], "", DefaultLimits, 400, "body ends early (after 15 bytes)"},
		{"syntax error", []byte(`{"host_id": web}`), "", DefaultLimits, 400, "at byte 13"},
		{"wrong type", []byte(`{"host_id":"web-01","seq":"one"}`), "", DefaultLimits, 400, "seq: want uint64, got JSON string"},
		{"negative seq", []byte(`{"seq":-1}`), "", DefaultLimits, 400, "seq"},
		{"second value", []byte(`{"seq":1} {"seq":2}`), "", DefaultLimits, 400, "data after the value (at byte 10)"},
		{"closing brace after the value", []byte(`{"seq":1}}`), "", DefaultLimits, 400, "data after the value (at byte 9)"},
		{"closing bracket after the value", append(gzipped(t, []byte(`{"seq":1}]`)), nil...), "gzip", DefaultLimits, 400, "data after the value"},
		{"not an object", []byte(`[1,2]`), "", DefaultLimits, 400, "want protocol.Report"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := &countingBody{r: bytes.NewReader(tc.body)}
			var r Report
			err := Decode(body, tc.encoding, tc.lim, &r)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if r.HostID != "web-01" || r.Seq != 1 {
					t.Errorf("decoded %+v", r)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode succeeded, want %d", tc.status)
			}
			e := asError(t, err)
			if e.Status != tc.status || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Decode: %d %q, want %d and %q", e.Status, err, tc.status, tc.msg)
			}
			if e.Msg != err.Error() {
				t.Errorf("Error() %q, Msg %q", err.Error(), e.Msg)
			}
			if errors.Is(err, ErrTooLarge) != (tc.status == http.StatusRequestEntityTooLarge) {
				t.Errorf("errors.Is(%v, ErrTooLarge) = %v", err, errors.Is(err, ErrTooLarge))
			}
			// A body over a limit is refused after reading little more than the limit.
			if tc.status == http.StatusRequestEntityTooLarge && int64(body.n) > min(tc.lim.Compressed+1, 64<<10) {
				t.Errorf("read %d bytes of a %d-byte body", body.n, len(tc.body))
			}
		})
	}
}

// TestDecodeZipBomb decodes 32 MiB of zeros sent as 40 KiB of gzip and checks that Decode
// stops after reading a small part of the body.
func TestDecodeZipBomb(t *testing.T) {
	bomb := bomb()
	body := &countingBody{r: bytes.NewReader(bomb)}
	var r Report
	err := Decode(body, "gzip", Limits{Compressed: DefaultMaxCompressedBytes, Decompressed: 1 << 20}, &r)
	if !errors.Is(err, ErrTooLarge) || asError(t, err).Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("Decode: %v, want 413", err)
	}
	if body.n > len(bomb)/4 {
		t.Errorf("read %d bytes of a %d-byte bomb to refuse it", body.n, len(bomb))
	}
}

// TestDecodeMaxBytesReader checks that a body the HTTP server limits gives a 413 too.
func TestDecodeMaxBytesReader(t *testing.T) {
	for _, tc := range []struct {
		name, encoding string
		body           []byte
		limit          int64
	}{
		{"plain", "", []byte(`{"host_id":"web-01","seq":1}`), 10},
		{"gzip body", "gzip", zipBomb(1 << 20), 100},
		{"gzip header", "gzip", zipBomb(1 << 20), 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			body := http.MaxBytesReader(w, io.NopCloser(bytes.NewReader(tc.body)), tc.limit)
			var r Report
			err := Decode(body, tc.encoding, DefaultLimits, &r)
			if !errors.Is(err, ErrTooLarge) || asError(t, err).Status != http.StatusRequestEntityTooLarge {
				t.Errorf("Decode: %v, want 413", err)
			}
		})
	}
}

// errReader fails after its data.
type errReader struct {
	data []byte
	err  error
}

func (e *errReader) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

func TestDecodeReadError(t *testing.T) {
	var r Report
	err := Decode(&errReader{data: []byte(`{"seq":`), err: errors.New("connection reset")}, "", DefaultLimits, &r)
	if e := asError(t, err); e.Status != http.StatusBadRequest || !strings.Contains(e.Msg, "connection reset") {
		t.Errorf("Decode: %v", err)
	}
}
