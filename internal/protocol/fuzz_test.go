package protocol

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/onus-project/onus/internal/testutil/fixture"
)

// FuzzDecodeReport feeds request bodies through what the collector does with them: Decode,
// CleanReport, Validate and, for a valid report, the state's hash or the delta's
// application. Nothing may panic; cleaning twice changes nothing; every refusal is a *Error
// with a 4xx status; a valid report survives a Marshal and Decode round trip unchanged and
// still valid.
func FuzzDecodeReport(f *testing.F) {
	for _, r := range testReports(f) {
		body, err := Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body, true)
		plain := gunzipped(f, body)
		f.Add(plain, false)
		f.Add(plain[:len(plain)/2], false)
		f.Add(append(bytes.TrimSpace(plain), '}'), false)
	}
	small := []string{
		`{"host_id":"h","seq":1,"kind":"heartbeat","hash":"` + hex64 + `","base_hash":"` + hex64 + `"}`,
		`{"host_id":"h","seq":1,"kind":"delta","hash":"` + hex64 + `","base_hash":"` + hex64 + `","delta":{"listeners_changed":true}}`,
		`{"host_id":"h","seq":1,"kind":"full","hash":"` + hex64 + `","state":{"host":{"id":"h","boot_time":"9999-12-31T23:59:59-23:59"}}}`,
		`{"host_id":"h","seq":1,"kind":"full","hash":"` + hex64 + `","sent_at":"0000-01-01T00:00:00+01:00","state":{"host":{"id":"h"}}}`,
		`{"seq":18446744073709551616}`, `[]`, `null`, `{"events":[{}]}`, ``,
		`{"EVENTS":[{},{}]}`, `{"eventſ":[{}],"events":[]}`, `{"\u0065vents":[null]}`, `{"state":{"host":{"labels":{"a":"b"},"Labels":{}}}}`,
		`{"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`, `{"a":"\"]}"} 1`, `{"seq":1}}`,
	}
	for _, s := range small {
		f.Add([]byte(s), false)
	}
	base := stateOf(fixture.Golden(f, "debian12"))
	lim := Limits{Compressed: 1 << 20, Decompressed: 4 << 20}
	f.Fuzz(func(t *testing.T, body []byte, gz bool) {
		encoding := ""
		if gz {
			encoding = "gzip"
		}
		if !gz {
			checkCounter(t, body)
		}
		var r Report
		if err := Decode(bytes.NewReader(body), encoding, lim, &r); err != nil {
			check4xx(t, "Decode", err)
			return
		}
		if over := overLimit(reflect.ValueOf(r), "report"); over != "" {
			t.Fatalf("Decode let %s through", over)
		}
		// As the collector does: clean the text, then validate the structure.
		CleanReport(&r)
		if n := CleanReport(&r); n != nil {
			t.Fatalf("cleaning twice changed %v", n)
		}
		if err := Validate(&r); err != nil {
			check4xx(t, "Validate", err)
			return
		}
		want := mustJSON(t, &r)
		if r.State != nil {
			st := cloneJSON(t, r.State)
			Normalize(st)
			Hash(st)
			Diff(base, st)
			Events(base, st, r.SentAt)
		}
		if r.Delta != nil {
			st := Apply(base, cloneJSON(t, r.Delta))
			Hash(&st)
			Events(base, &st, r.SentAt)
		}
		if got := mustJSON(t, &r); got != want {
			t.Fatalf("handling the report changed it:\n%s\n%s", want, got)
		}
		again, err := Marshal(&r)
		if err != nil {
			t.Fatalf("Marshal of a valid report: %v", err)
		}
		var r2 Report
		if err := Decode(bytes.NewReader(again), "gzip", DefaultLimits, &r2); err != nil {
			t.Fatalf("Decode of a marshalled report: %v", err)
		}
		if got := mustJSON(t, &r2); got != want {
			t.Fatalf("round trip changed the report:\n%s\n%s", want, got)
		}
		if err := Validate(&r2); err != nil {
			t.Fatalf("Validate after a round trip: %v", err)
		}
	})
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func check4xx(t *testing.T, what string, err error) {
	t.Helper()
	if e := asError(t, err); e.Status < 400 || e.Status > 499 {
		t.Fatalf("%s: status %d for %v", what, e.Status, err)
	}
}

// overLimit names a list or map of v longer than listLimits allows, or returns "".
func overLimit(v reflect.Value, path string) string {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			return overLimit(v.Elem(), path)
		}
	case reflect.Slice:
		for i := range v.Len() {
			if over := overLimit(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); over != "" {
				return over
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			if max := listLimits[v.Type()][f.Name]; max > 0 && (fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) && fv.Len() > max {
				return fmt.Sprintf("%s.%s with %d entries (limit %d)", path, f.Name, fv.Len(), max)
			}
			if over := overLimit(fv, path+"."+f.Name); over != "" {
				return over
			}
		}
	}
	return ""
}

// FuzzCounter feeds any bytes to the counter Decode reads bodies with: it must never panic,
// must read every valid JSON value to its end whatever the pieces it arrives in, and must
// agree with itself across piece sizes.
func FuzzCounter(f *testing.F) {
	for _, s := range []string{
		`{"seq":1}`, `[1,[2,{"a":[]}],"x"]`, `{"events":[{"name":"\\"},{"name":"\u0041\"}"}]}`, `{"EVENTS":[{},{}]}`,
		`{"state":{"host":{"labels":{"a":"b"},"interfaces":[{"addrs":["x"]}]}}}`, `{"a":1,}`, `{]`, ` 12 `, `"\\\""`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkCounter(t, body) })
}
