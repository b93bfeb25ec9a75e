package main

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/onus-project/onus/internal/testutil/mddoc"
)

// TestConfigurationDoc checks docs/configuration.md against the real commands: every flag
// that "onus-agent run -h" and "onus-agent inventory -h" show, with its default, and every
// key of run's configuration file, documented; nothing documented that does not exist.
func TestConfigurationDoc(t *testing.T) {
	doc := mddoc.Read(t, "configuration.md")
	for _, cmd := range []string{"run", "inventory"} {
		name := "onus-agent " + cmd
		sec := doc.Find("`" + name + "`")
		if sec == nil {
			t.Errorf("%s: no section with `%s` in its title", doc.Path, name)
			continue
		}
		var out bytes.Buffer
		run([]string{cmd, "-h"}, &out, &out)
		real := map[string]mddoc.Flag{}
		for _, f := range mddoc.UsageFlags(out.String()) {
			real[f.Name] = f
		}
		if len(real) == 0 {
			t.Fatalf("%s -h shows no flags:\n%s", name, out.String())
		}
		mddoc.CheckFlags(t, doc.Path, sec.Title, real, mddoc.FlagRows(t, sec))
		if cmd == "run" {
			mddoc.CheckKeys(t, doc.Path, sec, reflect.TypeOf(runConfig{}))
		}
	}
}
