package protocol

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// eventsBomb is the report that once made a collector allocate 9.5 GiB: a valid header,
// then "events":[{},{},…] 21 million times, 63 MB of JSON in about 61 KB of gzip.
var eventsBomb = sync.OnceValue(func() []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	fmt.Fprintf(zw, `{"host_id":"web-01","seq":1,"kind":"heartbeat","hash":"%s","base_hash":"%s","events":[{}`, hex64, hex64)
	chunk := bytes.Repeat([]byte(`,{}`), 1<<16)
	for n := 1; n < 21_000_000; n += 1 << 16 {
		zw.Write(chunk[:3*min(1<<16, 21_000_000-n)])
	}
	zw.Write([]byte("]}"))
	zw.Close()
	return buf.Bytes()
})

// allocated returns the bytes f allocates, from the runtime's own count.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecodeEventsBomb decodes the events bomb: it must be refused with a 400 naming the
// list and its limit, after reading a small part of the body and allocating a few MiB.
func TestDecodeEventsBomb(t *testing.T) {
	bomb := eventsBomb()
	t.Logf("bomb: %d bytes of gzip", len(bomb))
	var err error
	body := &countingBody{r: bytes.NewReader(bomb)}
	alloc := allocated(func() {
		var r Report
		err = Decode(body, "gzip", DefaultLimits, &r)
	})
	e := asError(t, err)
	if e.Status != http.StatusBadRequest || e.Msg != "events: over the limit of 100000 entries" {
		t.Fatalf("Decode: %d %v", e.Status, err)
	}
	t.Logf("refused after reading %d of %d bytes, %d KiB allocated", body.n, len(bomb), alloc>>10)
	if alloc > 4<<20 {
		t.Errorf("Decode allocated %d bytes to refuse the bomb, want under 4 MiB", alloc)
	}
	if body.n > len(bomb)/4 {
		t.Errorf("read %d of %d bytes", body.n, len(bomb))
	}
}

// TestDecodeLegalMaximumMemory decodes the most events a report may carry, all empty (the
// costliest shape per byte of JSON): the memory stays a small multiple of what the decoded
// list itself needs. The runtime's count is of every allocation, the lists encoding/json
// outgrows (by half each time) included: about 4.5 times the list at the end.
func TestDecodeLegalMaximumMemory(t *testing.T) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"host_id":"web-01","events":[{}%s]}`, strings.Repeat(`,{}`, MaxEvents-1))
	var r Report
	alloc := allocated(func() {
		if err := Decode(bytes.NewReader(b.Bytes()), "", DefaultLimits, &r); err != nil {
			t.Fatal(err)
		}
	})
	need := uint64(MaxEvents) * uint64(reflect.TypeFor[Event]().Size())
	t.Logf("%d events: %d KiB allocated, the list alone %d KiB", len(r.Events), alloc>>10, need>>10)
	if len(r.Events) != MaxEvents || alloc > 6*need {
		t.Errorf("%d events, %d bytes allocated; want %d events in under %d bytes", len(r.Events), alloc, MaxEvents, 6*need)
	}
}

func TestDecodeCounts(t *testing.T) {
	items := func(n int, item string) string {
		return strings.TrimSuffix(strings.Repeat(item+",", n), ",")
	}
	labels := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, `"k%d":"v",`, i)
		}
		return strings.TrimSuffix(b.String(), ",")
	}
	deep := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	for _, tc := range []struct {
		name, body string
		msg        string // "" for accepted
	}{
		{"events at the limit", `{"events":[` + items(MaxEvents, "{}") + `]}`, ""},
		{"events over the limit", `{"events":[` + items(MaxEvents+1, "{}") + `]}`, "events: over the limit of 100000 entries"},
		{"null events count", `{"events":[` + items(MaxEvents+1, "null") + `]}`, "events: over the limit of 100000"},
		{"software over the limit", `{"state":{"software":[` + items(MaxSoftware+1, `{"name":"a"}`) + `]}}`, "state.software: over the limit of 50000 entries"},
		{"delta upserts", `{"delta":{"software_upsert":[` + items(2*MaxSoftware+1, "{}") + `]}}`, "delta.software_upsert: over the limit of 100000"},
		{"addresses of the second interface", `{"state":{"host":{"interfaces":[{"addrs":["a"]},{"addrs":[` + items(MaxAddrs+1, `"x"`) + `]}]}}}`,
			"state.host.interfaces[1].addrs: over the limit of 256 entries"},
		{"addresses at the limit", `{"state":{"host":{"interfaces":[{"addrs":[` + items(MaxAddrs, `"x"`) + `]}]}}}`, ""},
		{"labels at the limit", `{"state":{"host":{"labels":{` + labels(MaxLabels) + `}}}}`, ""},
		{"labels over the limit", `{"state":{"host":{"labels":{` + labels(MaxLabels+1) + `}}}}`, "state.host.labels: over the limit of 64 entries"},
		{"evidence", `{"delta":{"host":{"virtualization":{"evidence":[` + items(MaxEvidence+1, `""`) + `]}}}}`, "delta.host.virtualization.evidence: over the limit of 32"},
		{"capacity filesystems", `{"capacity":{"filesystems":[` + items(MaxFilesystems+1, "{}") + `]}}`, "capacity.filesystems: over the limit of 1024"},
		// Keys match fields as encoding/json matches them.
		{"upper-case key", `{"EVENTS":[` + items(MaxEvents+1, "{}") + `]}`, "events: over the limit"},
		{"key with a long s", `{"eventſ":[` + items(MaxEvents+1, "{}") + `]}`, "events: over the limit"},
		{"escaped key", `{"\u0065vents":[` + items(MaxEvents+1, "{}") + `]}`, "events: over the limit"},
		{"escaped long s", `{"event\u017f":[` + items(MaxEvents+1, "{}") + `]}`, "events: over the limit"},
		{"key given twice", `{"events":[],"Events":[{}]}`, "malformed JSON: events given twice"},
		{"nested key given twice", `{"state":{"host":{"labels":{},"labels":{}}}}`, "malformed JSON: state.host.labels given twice"},
		{"map key given twice", `{"state":{"host":{"labels":{"a":"1","a":"2"}}}}`, ""},
		// Content the decoder skips is not counted, but nests no deeper than MaxDepth.
		{"long unknown list", `{"unknown":[` + items(MaxEvents+1, "{}") + `]}`, ""},
		{"events of the wrong type", `{"events":{` + labels(MaxEvents+1) + `}}`, "events: want []protocol.Event"},
		{"deep unknown value", `{"x":` + deep[1:len(deep)-1] + `}`, ""},
		{"too deep", `{"x":` + deep + `}`, "nests deeper than 32 levels"},
		{"string with brackets", `{"host_id":"[[[{{{\"]]]","events":[` + items(3, `{"name":"],}\\\"{["}`) + `]}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, gz := range []bool{false, true} {
				body, enc := []byte(tc.body), ""
				if gz {
					body, enc = gzipped(t, body), "gzip"
				}
				var r Report
				err := Decode(bytes.NewReader(body), enc, DefaultLimits, &r)
				if tc.msg == "" {
					if err != nil {
						t.Fatalf("Decode: %v", err)
					}
					continue
				}
				if err == nil || asError(t, err).Status != http.StatusBadRequest || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("Decode: %v, want 400 with %q", err, tc.msg)
				}
			}
		})
	}
}

// TestListLimitsCoverRequests requires a bound for every list and map of the requests the
// collector decodes, and checks that the shapes Decode counts with name the fields as
// encoding/json does, on a report with every field set.
func TestListLimitsCoverRequests(t *testing.T) {
	var walk func(t reflect.Type, path string, seen map[reflect.Type]bool) []string
	walk = func(ty reflect.Type, path string, seen map[reflect.Type]bool) []string {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Map {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || seen[ty] || ty == reflect.TypeFor[time.Time]() {
			return nil
		}
		seen[ty] = true
		var missing []string
		for i := range ty.NumField() {
			f := ty.Field(i)
			if k := f.Type.Kind(); (k == reflect.Slice || k == reflect.Map) && listLimits[ty][f.Name] == 0 {
				missing = append(missing, path+ty.String()+"."+f.Name)
			}
			missing = append(missing, walk(f.Type, path, seen)...)
		}
		return missing
	}
	for _, v := range []any{Report{}, EnrollRequest{}} {
		if missing := walk(reflect.TypeOf(v), "", map[reflect.Type]bool{}); len(missing) > 0 {
			t.Errorf("lists without a bound in listLimits: %s", strings.Join(missing, ", "))
		}
	}

	// Every key of a report with every field set names a field of its shape.
	var r Report
	fill(reflect.ValueOf(&r).Elem())
	b, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var check func(v any, s *shape, path string)
	check = func(v any, s *shape, path string) {
		switch v := v.(type) {
		case map[string]any:
			if s == nil {
				t.Errorf("%s: an object, counted as nothing", path)
				return
			}
			for k, e := range v {
				if s.kind == dict {
					check(e, s.elem, path+"."+k)
					continue
				}
				i, ok := s.exact[k]
				if !ok {
					t.Errorf("%s.%s: no such field in the shape", path, k)
					continue
				}
				check(e, s.fields[i].shape, path+"."+k)
			}
		case []any:
			if s == nil || s.kind != list || s.max == 0 {
				t.Errorf("%s: a list without a bound", path)
				return
			}
			for _, e := range v {
				check(e, s.elem, path+"[]")
			}
		}
	}
	check(doc, shapeOf(reflect.TypeFor[*Report]()), "report")
}

// fill sets every field of v: one entry in each list and map, a non-zero value elsewhere.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		v.SetMapIndex(k, e)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	}
}

// countAll runs the counter over body in pieces of n bytes.
func countAll(body []byte, n int, v any) (*counter, error) {
	c := &counter{next: shapeOf(reflect.TypeOf(v)), after: -1}
	for len(body) > 0 {
		k := min(n, len(body))
		if err := c.feed(body[:k]); err != nil {
			return c, err
		}
		body = body[k:]
	}
	c.eof()
	return c, nil
}

// checkCounter requires the counter to read any valid JSON to its end, whatever the pieces
// it arrives in, and to agree with itself across piece sizes.
func checkCounter(t *testing.T, body []byte) {
	t.Helper()
	whole, errWhole := countAll(body, len(body)+1, &Report{})
	for _, n := range []int{1, 2, 7} {
		c, err := countAll(body, n, &Report{})
		if fmt.Sprint(err) != fmt.Sprint(errWhole) || c.done != whole.done || c.end != whole.end || c.broken != whole.broken || c.after != whole.after {
			t.Fatalf("in pieces of %d: %v done=%v end=%d broken=%v; whole: %v done=%v end=%d broken=%v",
				n, err, c.done, c.end, c.broken, errWhole, whole.done, whole.end, whole.broken)
		}
	}
	if c := whole; json.Valid(body) && errWhole == nil && (c.broken || !c.done || c.after >= 0 || len(bytes.TrimSpace(body[c.end:])) > 0) {
		t.Fatalf("valid JSON read as broken=%v done=%v end=%d after=%d of %d", c.broken, c.done, c.end, c.after, len(body))
	}
	if c := whole; c.after >= 0 && (!c.done || c.after < c.end || isSpace(body[c.after])) {
		t.Fatalf("data after the value at %d, value done=%v ending at %d", c.after, c.done, c.end)
	}
}

func TestCounterPieces(t *testing.T) {
	for _, body := range []string{
		`{"seq":1}`, ` 12 `, `12`, `"a\"b"`, `[]`, `{}`, `[1,[2,{"a":[]}],"x"] `, `{"events":[{"name":"\\"},{"name":"\u0041\"}"}]}`,
		`{"seq":1} x`, `{"a":1,}`, `{]`, `[1 2]`,
	} {
		checkCounter(t, []byte(body))
	}
}

// BenchmarkCount is the cost of counting a 1,200-package full report's lists (its plain
// JSON), the part of BenchmarkDecodeValidate that bounds memory.
func BenchmarkCount(b *testing.B) {
	body, err := json.Marshal(reportFor(b, bigInventory(b, 1200)))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if c, err := countAll(body, 32<<10, &Report{}); err != nil || !c.done {
			b.Fatal(err, c.done)
		}
	}
}
