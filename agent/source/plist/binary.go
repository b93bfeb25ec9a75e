package plist

import (
	"encoding/binary"
	"math"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// trailerLen is the length of a binary property list's trailer: six unused bytes (a sort
// version among them), the byte size of an offset and of an object reference, the object
// count, the top object and the offset of the offset table.
const trailerLen = 32

// appleEpoch is when binary dates count seconds from.
var appleEpoch = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)

// binDecoder decodes the objects of a binary property list.
type binDecoder struct {
	b         []byte
	offsets   []byte // the offset table
	offSize   int
	refSize   int
	count     uint64
	onPath    map[uint64]bool // the objects being decoded: one met again is a cycle
	values    int
	bytesLeft int // string and data bytes still allowed
}

// DecodeBinary decodes a binary ("bplist00") property list.
func DecodeBinary(b []byte) (any, error) {
	if len(b) > MaxInput {
		return nil, ErrLimit
	}
	if len(b) < len(binaryMagic)+trailerLen || string(b[:len(binaryMagic)]) != string(binaryMagic) {
		return nil, ErrFormat
	}
	t := b[len(b)-trailerLen:]
	d := &binDecoder{
		b:         b[:len(b)-trailerLen],
		offSize:   int(t[6]),
		refSize:   int(t[7]),
		count:     binary.BigEndian.Uint64(t[8:]),
		onPath:    map[uint64]bool{},
		bytesLeft: 4*len(b) + 1<<20,
	}
	top, tableAt := binary.BigEndian.Uint64(t[16:]), binary.BigEndian.Uint64(t[24:])
	if d.offSize < 1 || d.offSize > 8 || d.refSize < 1 || d.refSize > 8 || d.count == 0 ||
		top >= d.count || tableAt < uint64(len(binaryMagic)) || tableAt > uint64(len(d.b)) ||
		d.count > (uint64(len(d.b))-tableAt)/uint64(d.offSize) {
		return nil, ErrFormat
	}
	d.offsets = d.b[tableAt : tableAt+d.count*uint64(d.offSize)]
	return d.object(top, 0)
}

// uint reads a big-endian unsigned integer of len(p) bytes.
func uintOf(p []byte) uint64 {
	var u uint64
	for _, c := range p {
		u = u<<8 | uint64(c)
	}
	return u
}

// object decodes the object at index ref, depth containers deep.
func (d *binDecoder) object(ref uint64, depth int) (any, error) {
	if ref >= d.count {
		return nil, ErrFormat
	}
	if d.values++; d.values > MaxValues {
		return nil, ErrLimit
	}
	off := uintOf(d.offsets[ref*uint64(d.offSize):][:d.offSize])
	if off < uint64(len(binaryMagic)) || off >= uint64(len(d.b)) {
		return nil, ErrFormat
	}
	marker, body := d.b[off], d.b[off+1:]
	kind, low := marker>>4, int(marker&0xF)
	switch kind {
	case 0x0:
		switch marker {
		case 0x08, 0x09:
			return marker == 0x09, nil
		}
		return nil, ErrFormat // null and fill have no Go value here
	case 0x1, 0x8: // an integer of 2^low bytes; a UID of low+1 bytes
		n := 1 << low
		if kind == 0x8 {
			n = low + 1
		}
		return intOf(body, n)
	case 0x2:
		return realOf(body, low)
	case 0x3:
		if marker != 0x33 || len(body) < 8 {
			return nil, ErrFormat
		}
		return dateOf(math.Float64frombits(binary.BigEndian.Uint64(body)))
	case 0x4, 0x5, 0x6:
		return d.bytesObject(kind, low, body)
	case 0xA, 0xC:
		return d.array(ref, low, body, depth+1)
	case 0xD:
		return d.dict(ref, low, body, depth+1)
	}
	return nil, ErrFormat
}

// intOf decodes an integer of n bytes: one of 8 bytes or fewer is signed as 8 bytes are, one
// of 16 keeps its low 64 bits (plistlib writes unsigned 64-bit integers so).
func intOf(body []byte, n int) (any, error) {
	if n > 16 || len(body) < n {
		return nil, ErrFormat
	}
	if n == 16 {
		body, n = body[8:], 8
	}
	return int64(uintOf(body[:n])), nil //nolint:gosec // 8 bytes are a two's complement integer
}

func realOf(body []byte, low int) (any, error) {
	switch {
	case low == 2 && len(body) >= 4:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(body))), nil
	case low == 3 && len(body) >= 8:
		return math.Float64frombits(binary.BigEndian.Uint64(body)), nil
	}
	return nil, ErrFormat
}

// dateOf makes the date of seconds since 2001-01-01 UTC, within ten thousand years of it.
func dateOf(secs float64) (any, error) {
	if math.IsNaN(secs) || math.Abs(secs) > 1e4*365.25*86400 {
		return nil, ErrFormat
	}
	whole, frac := math.Modf(secs)
	return time.Unix(appleEpoch.Unix()+int64(whole), int64(frac*1e9)).UTC(), nil
}

// length reads the length of a sized object: the marker's low nibble, or when it is 0xF the
// integer object that follows the marker. It returns the length and the body after it.
func (d *binDecoder) length(low int, body []byte) (uint64, []byte, error) {
	if low != 0xF {
		return uint64(low), body, nil
	}
	if len(body) < 1 || body[0]>>4 != 0x1 || body[0]&0xF > 3 {
		return 0, nil, ErrFormat
	}
	n := 1 << (body[0] & 0xF)
	if len(body) < 1+n {
		return 0, nil, ErrFormat
	}
	return uintOf(body[1 : 1+n]), body[1+n:], nil
}

// bytesObject decodes data, an ASCII string or a UTF-16 string.
func (d *binDecoder) bytesObject(kind byte, low int, body []byte) (any, error) {
	n, body, err := d.length(low, body)
	if err != nil {
		return nil, err
	}
	size := n
	if kind == 0x6 {
		size = 2 * n
	}
	if n > uint64(len(body)) || size > uint64(len(body)) {
		return nil, ErrFormat
	}
	if d.bytesLeft -= int(size); d.bytesLeft < 0 {
		return nil, ErrLimit
	}
	p := body[:size]
	switch kind {
	case 0x4:
		return append([]byte{}, p...), nil
	case 0x5:
		if utf8.Valid(p) {
			return string(p), nil
		}
		return strings.ToValidUTF8(string(p), "\uFFFD"), nil
	}
	u := make([]uint16, n)
	for i := range u {
		u[i] = binary.BigEndian.Uint16(p[2*i:])
	}
	return string(utf16.Decode(u)), nil
}

// refs reads the n object references a container lists after its length.
func (d *binDecoder) refs(low int, body []byte, per uint64) ([]uint64, error) {
	n, body, err := d.length(low, body)
	if err != nil {
		return nil, err
	}
	if n > uint64(len(body))/uint64(d.refSize)/per {
		return nil, ErrFormat
	}
	if n*per > MaxValues {
		return nil, ErrLimit
	}
	out := make([]uint64, n*per)
	for i := range out {
		out[i] = uintOf(body[i*d.refSize:][:d.refSize])
	}
	return out, nil
}

// enter marks ref as being decoded, failing on a cycle or past MaxDepth.
func (d *binDecoder) enter(ref uint64, depth int) error {
	if depth > MaxDepth {
		return ErrLimit
	}
	if d.onPath[ref] {
		return ErrFormat
	}
	d.onPath[ref] = true
	return nil
}

func (d *binDecoder) array(ref uint64, low int, body []byte, depth int) (any, error) {
	if err := d.enter(ref, depth); err != nil {
		return nil, err
	}
	defer delete(d.onPath, ref)
	refs, err := d.refs(low, body, 1)
	if err != nil {
		return nil, err
	}
	a := make([]any, 0, len(refs))
	for _, r := range refs {
		v, err := d.object(r, depth)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
	}
	return a, nil
}

func (d *binDecoder) dict(ref uint64, low int, body []byte, depth int) (any, error) {
	if err := d.enter(ref, depth); err != nil {
		return nil, err
	}
	defer delete(d.onPath, ref)
	refs, err := d.refs(low, body, 2)
	if err != nil {
		return nil, err
	}
	n := len(refs) / 2
	m := make(map[string]any, min(n, 64))
	for i := range n {
		k, err := d.object(refs[i], depth)
		if err != nil {
			return nil, err
		}
		key, ok := k.(string)
		if !ok {
			return nil, ErrFormat
		}
		v, err := d.object(refs[n+i], depth)
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
	return m, nil
}
