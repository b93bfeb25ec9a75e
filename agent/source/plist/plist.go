// Package plist decodes Apple property lists, the format macOS keeps application bundles'
// Info.plist, package receipts, launchd jobs and its own version in, from either of its two
// encodings: XML (<plist version="1.0"><dict><key>…</key><string>…</string>…) and binary
// ("bplist00": objects, an offset table and a trailer).
//
// Values decode to Go values: a dict to map[string]any, an array (or a binary set) to []any,
// a string to string, an integer (or a binary UID) to int64, a real to float64, a boolean to
// bool, a date to a UTC time.Time and data to []byte. Dict gives typed access to a dict's
// keys.
//
// Decoding is bounded for input the agent does not trust: the input is at most MaxInput
// bytes, values nest at most MaxDepth deep, a document yields at most MaxValues values, and a
// binary list, whose objects may be referenced many times, yields at most a few times its
// own size in string and data bytes; a binary object that refers to itself, directly or not,
// is an error, as is a reference past the object count.
package plist

import (
	"bytes"
	"errors"
	"time"
)

const (
	// MaxInput bounds the bytes of one property list.
	MaxInput = 16 << 20
	// MaxDepth bounds how deep arrays and dicts nest.
	MaxDepth = 64
	// MaxValues bounds the values one property list decodes to.
	MaxValues = 1 << 18
)

var (
	// ErrFormat is the error of input that is not a property list of either encoding.
	ErrFormat = errors.New("plist: malformed property list")
	// ErrLimit is the error of a property list past one of the package's bounds.
	ErrLimit = errors.New("plist: property list too large or too deep")
)

// binaryMagic starts a binary property list.
var binaryMagic = []byte("bplist00")

// Decode decodes a property list of either encoding: binary when it starts with "bplist00",
// XML otherwise.
func Decode(b []byte) (any, error) {
	if len(b) > MaxInput {
		return nil, ErrLimit
	}
	if bytes.HasPrefix(b, binaryMagic) {
		return DecodeBinary(b)
	}
	return DecodeXML(b)
}

// DecodeDict decodes a property list whose top value is a dict, as Info.plist, receipts and
// launchd jobs are.
func DecodeDict(b []byte) (Dict, error) {
	v, err := Decode(b)
	if err != nil {
		return nil, err
	}
	d, ok := v.(map[string]any)
	if !ok {
		return nil, ErrFormat
	}
	return Dict(d), nil
}

// Dict is a decoded dict with typed access to its keys. Each accessor returns the zero value
// (and false where it returns a flag) for a key absent or of another type.
type Dict map[string]any

// String returns the string at key.
func (d Dict) String(key string) string {
	s, _ := d[key].(string)
	return s
}

// Int returns the integer at key.
func (d Dict) Int(key string) (int64, bool) {
	n, ok := d[key].(int64)
	return n, ok
}

// Float returns the real at key, or the integer there as a real.
func (d Dict) Float(key string) (float64, bool) {
	switch v := d[key].(type) {
	case float64:
		return v, true
	case int64:
		return float64(v), true
	}
	return 0, false
}

// Bool returns the boolean at key, and whether there is one.
func (d Dict) Bool(key string) (value, ok bool) {
	value, ok = d[key].(bool)
	return value, ok
}

// Time returns the date at key.
func (d Dict) Time(key string) (time.Time, bool) {
	t, ok := d[key].(time.Time)
	return t, ok
}

// Data returns the data at key.
func (d Dict) Data(key string) []byte {
	b, _ := d[key].([]byte)
	return b
}

// Dict returns the dict at key.
func (d Dict) Dict(key string) Dict {
	m, _ := d[key].(map[string]any)
	return Dict(m)
}

// Array returns the array at key.
func (d Dict) Array(key string) []any {
	a, _ := d[key].([]any)
	return a
}

// Strings returns the strings of the array at key, leaving out its other values.
func (d Dict) Strings(key string) []string {
	var out []string
	for _, v := range d.Array(key) {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
