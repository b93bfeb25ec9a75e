package plist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func sample() map[string]any {
	return map[string]any{
		"String":   "hello",
		"Unicode":  "Café ☕ 日本",
		"Empty":    "",
		"Int":      int64(42),
		"Negative": int64(-7),
		"Big":      int64(-1), // 2^64-1 keeps its 64 bits
		"Real":     3.5,
		"True":     true,
		"False":    false,
		"Date":     time.Date(2024, 5, 1, 12, 30, 15, 0, time.UTC),
		"Data":     []byte("\x00\x01binary\xff"),
		"Array":    []any{"a", int64(1), []any{"nested", map[string]any{"k": "v"}}},
		"Dict":     map[string]any{"Inner": map[string]any{"Deeper": []any{true, 2.25}}},
	}
}

func TestDecodeFixtures(t *testing.T) {
	for _, name := range []string{"sample.xml", "sample.bplist"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := sample(); !reflect.DeepEqual(v, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", name, v, want)
		}
	}
}

func TestDictHelpers(t *testing.T) {
	for _, name := range []string{"info.xml", "info.bplist"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		d, err := DecodeDict(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := d.String("CFBundleIdentifier"); got != "com.acme.editor" {
			t.Errorf("%s: CFBundleIdentifier %q", name, got)
		}
		if got := d.String("Missing"); got != "" {
			t.Errorf("%s: missing key %q", name, got)
		}
		urls := d.Array("CFBundleURLTypes")
		if len(urls) != 1 {
			t.Fatalf("%s: CFBundleURLTypes %v", name, urls)
		}
		if got := Dict(urls[0].(map[string]any)).Strings("CFBundleURLSchemes"); !reflect.DeepEqual(got, []string{"acme"}) {
			t.Errorf("%s: schemes %v", name, got)
		}
	}
	d := Dict(sample())
	if n, ok := d.Int("Int"); !ok || n != 42 {
		t.Errorf("Int %d %v", n, ok)
	}
	if _, ok := d.Int("String"); ok {
		t.Error("Int of a string")
	}
	if f, ok := d.Float("Int"); !ok || f != 42 {
		t.Errorf("Float of an integer %v %v", f, ok)
	}
	if v, ok := d.Bool("True"); !ok || !v {
		t.Error("Bool")
	}
	if tm, ok := d.Time("Date"); !ok || tm.Year() != 2024 {
		t.Error("Time")
	}
	if len(d.Data("Data")) != 9 || d.Dict("Dict").Dict("Inner") == nil {
		t.Error("Data or Dict")
	}
	if _, err := DecodeDict([]byte(`<plist><array/></plist>`)); !errors.Is(err, ErrFormat) {
		t.Errorf("DecodeDict of an array: %v", err)
	}
}

func TestXMLForms(t *testing.T) {
	for in, want := range map[string]any{
		`<string>x</string>`:                                        "x",
		`<plist version="1.0"><string/></plist>`:                    "",
		`<plist><integer> 0x1F </integer></plist>`:                  int64(31),
		`<plist><integer>-9223372036854775808</integer></plist>`:    int64(math.MinInt64),
		`<plist><real>-1e3</real></plist>`:                          -1000.0,
		`<plist><dict><key>a</key><true/><!-- c --></dict></plist>`: map[string]any{"a": true},
		`<plist><data>YW Jj
		</data></plist>`: []byte("abc"),
		`<plist><string>a &amp; &lt;b&gt;</string></plist>`: "a & <b>",
		`<plist><array></array></plist>`:                    []any{},
	} {
		got, err := DecodeXML([]byte(in))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, %v; want %#v", in, got, err, want)
		}
	}
	for _, in := range []string{
		``, `garbage`, `<plist>`, `<plist><string>x</plist>`,
		`<plist><dict><key>a</key></dict></plist>`,       // a key without a value
		`<plist><dict><string>a</string></dict></plist>`, // a value without a key
		`<plist><integer>12x</integer></plist>`,          // not a number
		`<plist><integer>010_0</integer></plist>`,        //
		`<plist><integer>-9223372036854775809</integer></plist>`,
		`<plist><date>yesterday</date></plist>`, `<plist><data>!!</data></plist>`,
		`<plist><float>1</float></plist>`, `<plist><string>a</string><string>b</string></plist>`,
		`<plist><string>&foo;</string></plist>`, // an entity XML does not define
		`<?xml version="1.0" encoding="UTF-16"?><plist><string>a</string></plist>`,
		`<plist><string>` + "\xff\xfe" + `</string></plist>`,
	} {
		if v, err := DecodeXML([]byte(in)); err == nil {
			t.Errorf("%q: decoded to %#v", in, v)
		}
	}
}

// bplist builds a binary property list of objects (each its encoding), 1-byte references
// and 2-byte offsets, whose top object is top; count overrides the object count when not 0.
func bplist(objects [][]byte, top, count uint64) []byte {
	b := []byte("bplist00")
	var offsets []byte
	for _, o := range objects {
		offsets = binary.BigEndian.AppendUint16(offsets, uint16(len(b)))
		b = append(b, o...)
	}
	table := len(b)
	b = append(b, offsets...)
	if count == 0 {
		count = uint64(len(objects))
	}
	t := make([]byte, trailerLen)
	t[6], t[7] = 2, 1
	binary.BigEndian.PutUint64(t[8:], count)
	binary.BigEndian.PutUint64(t[16:], top)
	binary.BigEndian.PutUint64(t[24:], uint64(table))
	return append(b, t...)
}

func TestBinaryForms(t *testing.T) {
	utf16 := []byte{0x63, 0x00, 'h', 0xd8, 0x3d, 0xde, 0x00} // "h😀"
	got, err := DecodeBinary(bplist([][]byte{{0xA3, 1, 2, 3}, utf16, {0x33, 0, 0, 0, 0, 0, 0, 0, 0}, {0x80, 7}}, 0, 0))
	want := []any{"h😀", appleEpoch, int64(7)}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, %v; want %#v", got, err, want)
	}
	long := append([]byte{0x5F, 0x10, 20}, strings.Repeat("x", 20)...) // a length past the nibble
	if got, err := DecodeBinary(bplist([][]byte{long}, 0, 0)); err != nil || got != strings.Repeat("x", 20) {
		t.Errorf("long string: %q, %v", got, err)
	}
	if got, err := DecodeBinary(bplist([][]byte{{0x22, 0x3f, 0xc0, 0, 0}}, 0, 0)); err != nil || got != 1.5 {
		t.Errorf("float32: %v, %v", got, err)
	}
}

func TestBinaryHostile(t *testing.T) {
	for name, c := range map[string]struct {
		in   []byte
		want error
	}{
		"self":          {bplist([][]byte{{0xA1, 0}}, 0, 0), ErrFormat},
		"cycle":         {bplist([][]byte{{0xA1, 1}, {0xD1, 2, 0}, {0x51, 'k'}}, 0, 0), ErrFormat},
		"ref past":      {bplist([][]byte{{0xA1, 5}}, 0, 0), ErrFormat},
		"count past":    {bplist([][]byte{{0x09}}, 0, 1000), ErrFormat},
		"top past":      {bplist([][]byte{{0x09}}, 1, 0), ErrFormat},
		"key not text":  {bplist([][]byte{{0xD1, 1, 1}, {0x10, 1}}, 0, 0), ErrFormat},
		"string past":   {bplist([][]byte{{0x5F, 0x13, 0, 0, 0, 0, 0, 0, 0x10, 0}}, 0, 0), ErrFormat},
		"utf16 past":    {bplist([][]byte{{0x6F, 0x13, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, 0, 0), ErrFormat},
		"array past":    {bplist([][]byte{{0xAF, 0x12, 0x10, 0, 0, 0}}, 0, 0), ErrFormat},
		"null":          {bplist([][]byte{{0x00}}, 0, 0), ErrFormat},
		"int of 32":     {bplist([][]byte{{0x15, 0}}, 0, 0), ErrFormat},
		"date nan":      {bplist([][]byte{{0x33, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0}}, 0, 0), ErrFormat},
		"date far":      {bplist([][]byte{{0x33, 0x7f, 0xe0, 0, 0, 0, 0, 0, 0}}, 0, 0), ErrFormat},
		"short":         {[]byte("bplist00"), ErrFormat},
		"huge":          {append([]byte("bplist00"), make([]byte, MaxInput)...), ErrLimit},
		"offset in hdr": {func() []byte { b := bplist([][]byte{{0x09}}, 0, 0); b[len(b)-trailerLen-1] = 0; return b }(), ErrFormat},
	} {
		if v, err := DecodeBinary(c.in); !errors.Is(err, c.want) {
			t.Errorf("%s: got %#v, %v; want %v", name, v, err, c.want)
		}
	}
}

// TestBinaryShared decodes objects referenced many times: a chain of arrays, each
// referring to the next twice, doubles what it yields at each level.
func TestBinaryShared(t *testing.T) {
	var objs [][]byte
	for i := range 40 {
		objs = append(objs, []byte{0xA2, byte(i + 1), byte(i + 1)})
	}
	objs = append(objs, []byte{0x51, 'x'})
	if _, err := DecodeBinary(bplist(objs, 0, 0)); !errors.Is(err, ErrLimit) {
		t.Errorf("doubling chain: %v", err)
	}
	// A long string referred to by many arrays is bounded by bytes, not values.
	objs = [][]byte{{0xAF, 0x10, 200}}
	for range 200 {
		objs[0] = append(objs[0], 1)
	}
	big := append([]byte{0x5F, 0x11, 0x10, 0x00}, bytes.Repeat([]byte("y"), 4096)...)
	objs = append(objs, big)
	b := bplist(objs, 0, 0)
	if _, err := DecodeBinary(b); err != nil {
		t.Errorf("200 references to a 4 KiB string: %v", err) // 800 KiB, within the budget
	}
}

func TestDepth(t *testing.T) {
	deep := "<plist>" + strings.Repeat("<array>", MaxDepth+1) + strings.Repeat("</array>", MaxDepth+1) + "</plist>"
	if _, err := DecodeXML([]byte(deep)); !errors.Is(err, ErrLimit) {
		t.Errorf("XML past MaxDepth: %v", err)
	}
	ok := "<plist>" + strings.Repeat("<array>", MaxDepth) + strings.Repeat("</array>", MaxDepth) + "</plist>"
	if _, err := DecodeXML([]byte(ok)); err != nil {
		t.Errorf("XML at MaxDepth: %v", err)
	}
	var objs [][]byte
	for i := range MaxDepth + 1 {
		objs = append(objs, []byte{0xA1, byte(i + 1)})
	}
	objs = append(objs, []byte{0x09})
	if _, err := DecodeBinary(bplist(objs, 0, 0)); !errors.Is(err, ErrLimit) {
		t.Errorf("binary past MaxDepth: %v", err)
	}
	objs = objs[len(objs)-MaxDepth-1:]
	for i := range MaxDepth {
		objs[i] = []byte{0xA1, byte(i + 1)}
	}
	if _, err := DecodeBinary(bplist(objs, 0, 0)); err != nil {
		t.Errorf("binary at MaxDepth: %v", err)
	}
}

func TestTruncated(t *testing.T) {
	for _, name := range []string{"sample.xml", "sample.bplist", "info.bplist"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		for n := range len(b) - 1 {
			if _, err := Decode(b[:n]); err == nil && !strings.HasSuffix(name, ".xml") {
				t.Errorf("%s cut at %d decoded", name, n)
			}
		}
		flipped := append([]byte{}, b...)
		for i := range flipped {
			flipped[i] ^= 0xff
			Decode(flipped) // must not panic
			flipped[i] ^= 0xff
		}
	}
}

// check asserts the invariants of a decoded value: the types the package documents, valid
// UTF-8 text, nesting within MaxDepth, and it returns how many values it holds.
func check(t *testing.T, v any, depth int) int {
	if depth > MaxDepth+1 {
		t.Fatalf("nested %d deep", depth)
	}
	switch v := v.(type) {
	case string:
		if !utf8.ValidString(v) {
			t.Fatalf("invalid UTF-8 %q", v)
		}
	case int64, float64, bool, []byte:
	case time.Time:
		if v.Location() != time.UTC {
			t.Fatalf("date not in UTC: %v", v)
		}
	case []any:
		n := 1
		for _, e := range v {
			n += check(t, e, depth+1)
		}
		return n
	case map[string]any:
		n := 1
		for k, e := range v {
			n += check(t, k, depth+1) + check(t, e, depth+1) - 1
		}
		return n
	default:
		t.Fatalf("value of type %T", v)
	}
	return 1
}

func fuzzSeeds(f *testing.F, names ...string) {
	for _, name := range names {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzDecodeXML(f *testing.F) {
	fuzzSeeds(f, "sample.xml", "info.xml")
	f.Add([]byte(`<plist><dict><key>a</key><array><integer>1</integer></array></dict></plist>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeXML(b)
		if err != nil {
			return
		}
		if n := check(t, v, 0); n > MaxValues {
			t.Fatalf("%d values", n)
		}
	})
}

func FuzzDecodeBinary(f *testing.F) {
	fuzzSeeds(f, "sample.bplist", "info.bplist")
	f.Add(bplist([][]byte{{0xA2, 1, 1}, {0xD1, 2, 2}, {0x51, 'k'}}, 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeBinary(b)
		if err != nil {
			return
		}
		if n := check(t, v, 0); n > MaxValues {
			t.Fatalf("%d values", n)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"info.xml", "info.bplist"} {
		in, err := os.ReadFile("testdata/" + name)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
