package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/onus-project/onus/collector/cli"
	"github.com/onus-project/onus/internal/testutil/mddoc"
)

// commonCLISection is the heading of the flags every ownership command takes.
const commonCLISection = "Flags of every client command"

// TestConfigurationDoc checks docs/configuration.md against the real commands: every flag
// each command's -h shows, with its default, and every key of the configuration file of
// serve, documented; nothing documented that does not exist.
func TestConfigurationDoc(t *testing.T) {
	doc := mddoc.Read(t, "configuration.md")
	var usage bytes.Buffer
	if code := run([]string{"-h"}, &usage, &usage); code != 0 {
		t.Fatalf("onus-collector -h: exit %d", code)
	}
	cmds := commandsOf(usage.String())
	if len(cmds) < 3 {
		t.Fatalf("found only the commands %q in the usage text:\n%s", cmds, usage.String())
	}
	// The flags every client command has are documented once, in their own section; a
	// command's section may document one of them again when its default differs.
	commonSec := doc.Find(commonCLISection)
	if commonSec == nil {
		t.Fatalf("%s: no section %q", doc.Path, commonCLISection)
	}
	common := mddoc.FlagRows(t, commonSec)
	for _, cmd := range cmds {
		name := "onus-collector " + strings.Join(cmd, " ")
		sec := doc.Find("`" + name + "`")
		if sec == nil {
			t.Errorf("%s: no section with `%s` in its title", doc.Path, name)
			continue
		}
		real := flagsOf(t, cmd)
		rows := mddoc.FlagRows(t, sec)
		if cli.Handles(cmd[0]) {
			for flag, row := range common {
				if _, ok := real[flag]; !ok {
					t.Errorf("%s, section %q: documents --%s, which %s does not have", doc.Path, commonSec.Title, flag, name)
					continue
				}
				if _, ok := rows[flag]; !ok {
					rows[flag] = row
				}
			}
		}
		mddoc.CheckFlags(t, doc.Path, sec.Title, real, rows)
		if cmd[0] == "serve" {
			mddoc.CheckKeys(t, doc.Path, sec, reflect.TypeOf(config{}))
			checkExamples(t, doc.Path, sec)
		}
	}
}

// commandsOf reads the commands of onus-collector's usage text: the lines indented by two
// spaces, up to the first argument or the description.
func commandsOf(usage string) [][]string {
	var cmds [][]string
	for _, line := range strings.Split(usage, "\n") {
		if !strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "   ") {
			continue
		}
		words := strings.Fields(strings.SplitN(strings.TrimSpace(line), "  ", 2)[0])
		var cmd []string
		for _, w := range words {
			if w == "" || w[0] < 'a' || w[0] > 'z' {
				break
			}
			cmd = append(cmd, w)
		}
		if len(cmd) == 0 || cmd[0] == "version" || cmd[0] == "help" {
			continue
		}
		cmds = append(cmds, cmd)
	}
	return cmds
}

// flagsOf runs the command with -h and returns its flags by name.
func flagsOf(t *testing.T, cmd []string) map[string]mddoc.Flag {
	t.Helper()
	var out bytes.Buffer
	run(append(append([]string{}, cmd...), "-h"), &out, &out)
	flags := map[string]mddoc.Flag{}
	for _, f := range mddoc.UsageFlags(out.String()) {
		flags[f.Name] = f
	}
	if len(flags) == 0 {
		t.Fatalf("onus-collector %s -h shows no flags:\n%s", strings.Join(cmd, " "), out.String())
	}
	return flags
}

// checkExamples loads the YAML examples of the serve section with the real, strict loader.
func checkExamples(t *testing.T, path string, sec *mddoc.Section) {
	t.Helper()
	blocks := sec.Blocks("yaml")
	if len(blocks) == 0 {
		t.Errorf("%s, section %q: no YAML example", path, sec.Title)
	}
	for i, b := range blocks {
		file := filepath.Join(t.TempDir(), "collector.yaml")
		if err := os.WriteFile(file, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
		var c config
		if err := loadConfig(file, &c); err != nil {
			t.Errorf("%s, section %q: YAML example %d does not load: %v", path, sec.Title, i+1, err)
		}
	}
}
