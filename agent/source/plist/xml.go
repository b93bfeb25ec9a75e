package plist

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// xmlDecoder decodes the elements of an XML property list.
type xmlDecoder struct {
	d      *xml.Decoder
	values int
}

// DecodeXML decodes an XML property list: a <plist> element holding one value (a value
// alone is taken too).
func DecodeXML(b []byte) (any, error) {
	if len(b) > MaxInput {
		return nil, ErrLimit
	}
	x := &xmlDecoder{d: xml.NewDecoder(bytes.NewReader(b))}
	x.d.Strict = true
	x.d.CharsetReader = func(charset string, r io.Reader) (io.Reader, error) {
		if strings.EqualFold(charset, "utf-8") || strings.EqualFold(charset, "us-ascii") {
			return r, nil
		}
		return nil, ErrFormat
	}
	start, err := x.next()
	if err != nil {
		return nil, err
	}
	if start.Name.Local == "plist" {
		if start, err = x.next(); err != nil {
			return nil, err
		}
		v, err := x.value(start, 0)
		if err != nil {
			return nil, err
		}
		return v, x.end()
	}
	return x.value(start, 0)
}

// next returns the next start element, skipping the prolog, comments and white space;
// anything else (text, an end element) is an error.
func (x *xmlDecoder) next() (xml.StartElement, error) {
	for {
		tok, err := x.d.Token()
		if err != nil {
			return xml.StartElement{}, formatErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return xml.StartElement{}, ErrFormat
			}
		case xml.EndElement:
			return xml.StartElement{}, ErrFormat
		}
	}
}

// end reads the end of the element whose content has been read: white space, comments,
// then an end element.
func (x *xmlDecoder) end() error {
	for {
		tok, err := x.d.Token()
		if err != nil {
			return formatErr(err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return ErrFormat
			}
		case xml.StartElement:
			return ErrFormat
		}
	}
}

// container reads the elements of an array or dict up to its end: each start element is
// handed to f.
func (x *xmlDecoder) container(f func(xml.StartElement) error) error {
	for {
		tok, err := x.d.Token()
		if err != nil {
			return formatErr(err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			if err := f(t); err != nil {
				return err
			}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return ErrFormat
			}
		}
	}
}

// text reads the character data of an element up to its end.
func (x *xmlDecoder) text() (string, error) {
	var sb strings.Builder
	for {
		tok, err := x.d.Token()
		if err != nil {
			return "", formatErr(err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			sb.Write(t)
		case xml.EndElement:
			return sb.String(), nil
		case xml.StartElement:
			return "", ErrFormat
		}
	}
}

// value decodes the value that start begins, depth containers deep.
func (x *xmlDecoder) value(start xml.StartElement, depth int) (any, error) {
	if x.values++; x.values > MaxValues {
		return nil, ErrLimit
	}
	switch start.Name.Local {
	case "dict":
		return x.dict(depth + 1)
	case "array":
		return x.array(depth + 1)
	case "true", "false":
		return start.Name.Local == "true", x.end()
	}
	s, err := x.text()
	if err != nil {
		return nil, err
	}
	return scalar(start.Name.Local, s)
}

func (x *xmlDecoder) dict(depth int) (any, error) {
	if depth > MaxDepth {
		return nil, ErrLimit
	}
	m := map[string]any{}
	var key *string
	err := x.container(func(el xml.StartElement) error {
		if key == nil {
			if el.Name.Local != "key" {
				return ErrFormat
			}
			k, err := x.text()
			key = &k
			return err
		}
		v, err := x.value(el, depth)
		m[*key], key = v, nil
		return err
	})
	if err == nil && key != nil {
		err = ErrFormat // a key without its value
	}
	return m, err
}

func (x *xmlDecoder) array(depth int) (any, error) {
	if depth > MaxDepth {
		return nil, ErrLimit
	}
	a := []any{}
	err := x.container(func(el xml.StartElement) error {
		v, err := x.value(el, depth)
		a = append(a, v)
		return err
	})
	return a, err
}

// scalar decodes the text of a scalar element.
func scalar(kind, s string) (any, error) {
	switch kind {
	case "string":
		return s, nil
	case "integer":
		return parseInt(strings.TrimSpace(s))
	case "real":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, ErrFormat
		}
		return f, nil
	case "date":
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
		if err != nil {
			return nil, ErrFormat
		}
		return t.UTC(), nil
	case "data":
		b, err := base64.StdEncoding.DecodeString(strings.Map(dropSpace, s))
		if err != nil {
			return nil, ErrFormat
		}
		return b, nil
	}
	return nil, ErrFormat
}

// parseInt parses a decimal integer, or a hexadecimal one after 0x; one past int64 but
// within uint64, as plistlib writes, keeps its 64 bits.
func parseInt(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	digits, base := strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+"), 10
	if rest, ok := strings.CutPrefix(strings.ToLower(digits), "0x"); ok {
		digits, base = rest, 16
	}
	if digits == "" || strings.ContainsAny(digits, "+-_") {
		return 0, ErrFormat
	}
	u, err := strconv.ParseUint(digits, base, 64)
	switch {
	case err != nil:
		return 0, ErrFormat
	case neg && u > 1<<63:
		return 0, ErrFormat
	case neg:
		return -int64(u), nil //nolint:gosec // u ≤ 2^63: -2^63 wraps to itself
	case u > math.MaxInt64:
		return int64(u), nil //nolint:gosec // an unsigned 64-bit integer keeps its bits
	}
	return int64(u), nil
}

func dropSpace(r rune) rune {
	switch r {
	case ' ', '\t', '\n', '\r', '\f', '\v':
		return -1
	}
	return r
}

// formatErr makes the XML decoder's errors ErrFormat, the end of input included.
func formatErr(err error) error {
	if errors.Is(err, ErrFormat) || errors.Is(err, ErrLimit) {
		return err
	}
	return ErrFormat
}
