package main

import (
	"bytes"
	"testing"

	"github.com/onus-project/onus/internal/testutil/mddoc"
)

// TestConfigurationDoc checks that docs/configuration.md documents every flag of
// onus-loadgen with its default, and no flag it does not have.
func TestConfigurationDoc(t *testing.T) {
	doc := mddoc.Read(t, "configuration.md")
	sec := doc.Find("`onus-loadgen`")
	if sec == nil {
		t.Fatalf("%s: no section with `onus-loadgen` in its title", doc.Path)
	}
	var out bytes.Buffer
	if code := run([]string{"-h"}, &out, &out); code != 0 {
		t.Fatalf("onus-loadgen -h: exit %d", code)
	}
	real := map[string]mddoc.Flag{}
	for _, f := range mddoc.UsageFlags(out.String()) {
		real[f.Name] = f
	}
	if len(real) == 0 {
		t.Fatalf("onus-loadgen -h shows no flags:\n%s", out.String())
	}
	mddoc.CheckFlags(t, doc.Path, sec.Title, real, mddoc.FlagRows(t, sec))
}
