package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

func indented(t *testing.T, compact []byte) string {
	var out bytes.Buffer
	iw := newIndentWriter(&out)
	for i := 0; i < len(compact); i += 7 { // in pieces, as an encoder may write
		iw.Write(compact[i:min(i+7, len(compact))])
	}
	if err := iw.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestIndentWriterIsJSONIndent(t *testing.T) {
	for _, v := range []any{
		map[string]any{"a": []any{}, "b": map[string]any{}, "c": []any{1, "x,:{}[]\"\\", nil, true}, "d": map[string]any{"e": []any{[]any{}}}},
		[]any{}, "s", 1.5, nil,
	} {
		compact, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		compact = append(compact, '\n')
		var want bytes.Buffer
		json.Indent(&want, compact, "", "  ")
		if got := indented(t, compact); got != want.String() {
			t.Errorf("%s:\ngot  %q\nwant %q", compact, got, want.String())
		}
	}
}

func FuzzIndentWriter(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"c\"]"}],"e":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var compact bytes.Buffer
		if !json.Valid(b) || json.Compact(&compact, b) != nil {
			return
		}
		var want bytes.Buffer
		json.Indent(&want, compact.Bytes(), "", "  ")
		if got := indented(t, compact.Bytes()); got != want.String() {
			t.Fatalf("%s:\ngot  %q\nwant %q", compact.Bytes(), got, want.String())
		}
	})
}
