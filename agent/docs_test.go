package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
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
			blocks := sec.Blocks("yaml")
			if len(blocks) == 0 {
				t.Errorf("%s, section %q: no YAML example", doc.Path, sec.Title)
			}
			for i, b := range blocks {
				file := filepath.Join(t.TempDir(), "agent.yaml")
				if err := os.WriteFile(file, []byte(b), 0o600); err != nil {
					t.Fatal(err)
				}
				if _, err := loadRunConfig([]string{"--config", file}, io.Discard); err != nil {
					t.Errorf("%s, section %q: YAML example %d does not load: %v", doc.Path, sec.Title, i+1, err)
				}
			}
		}
	}
}
