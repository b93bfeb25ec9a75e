//go:build unix

package rpm

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/internal/model"
)

const zyppRoot = "testdata/zypp"

func TestZypp(t *testing.T) {
	got, skipped := attributions(t, zyppRoot)
	const (
		e   = evidenceZyppHistory
		cmd = "'/usr/bin/zypper' '--non-interactive' '--root' '/tmp/onus-zypp-fixture/root' "
	)
	checkAttributions(t, got, map[string]attribution{
		"acme-hello": {"explicit", "root", cmd + "'install' 'acme-hello'", e},
		// Chosen by the solver: the commit's user.
		"acme-libhello": {"dependency", "root", cmd + "'install' 'acme-hello'", e},
		// Installed, removed, installed again; the history's "\|" is a '|'.
		"acme-tool": {"explicit", "root", cmd + `'--userdata' 'ticket|42' '--releasever' '15\x1b[31m' 'install' 'acme-tool'`, e},
		"acme-upd":  {"explicit", "root", cmd + "'update' 'acme-upd'", e},
		// Removed by zypper, installed again by rpm alone; and rpm alone.
		"acme-gone": {"explicit", "", "", evidenceZyppAuto},
		"acme-bare": {"explicit", "", "", evidenceZyppAuto},
	})
	if skipped != 0 {
		t.Errorf("skipped %d", skipped)
	}
}

func TestZyppHostile(t *testing.T) {
	hist := "/var/log/zypp/history"
	auto := "/var/lib/zypp/AutoInstalled"
	tests := []struct {
		name              string
		setup             func(t *testing.T, root string)
		skipped, by, reqd int
	}{
		{"garbage history", func(t *testing.T, r string) {
			os.WriteFile(r+hist, []byte("garbage\n\x00\xff|install|\n|remove |acme-hello\n"), 0o644)
		}, 3, 0, 6},
		{"history a FIFO", func(t *testing.T, r string) {
			os.Remove(r + hist)
			if err := syscall.Mkfifo(r+hist, 0o644); err != nil {
				t.Skip(err)
			}
		}, 1, 0, 6},
		{"AutoInstalled a directory", func(t *testing.T, r string) {
			os.Remove(r + auto)
			os.Mkdir(r+auto, 0o755)
		}, 1, 4, 4},
		{"no AutoInstalled", func(t *testing.T, r string) {
			os.Remove(r + auto)
		}, 0, 4, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := copyTree(t, zyppRoot)
			tt.setup(t, root)
			got, skipped := attributions(t, root)
			by, reqd := 0, 0
			for _, a := range got {
				if a.by != "" {
					by++
				}
				if a.requested != "" {
					reqd++
				}
			}
			if len(got) != 6 || skipped != tt.skipped || by != tt.by || reqd != tt.reqd {
				t.Errorf("%d packages, %d skipped, %d attributed, %d requested; want 6, %d, %d, %d: %v",
					len(got), skipped, by, reqd, tt.skipped, tt.by, tt.reqd, got)
			}
		})
	}
}

func TestParseZyppHistory(t *testing.T) {
	pkgs := []model.Package{
		{Name: "a", Version: "1.0-1", Arch: "x86_64"},
		{Name: "b", Version: "2:2.0-1", Arch: "noarch"},
		{Name: "c", Version: "1-1", Arch: "noarch"},
		{Name: "d", Version: "1-1", Arch: "noarch"},
	}
	data := `# a comment
2026-01-01 10:00:00|install|c|1-1|noarch||repo||
2026-01-01 10:00:00|command|alice@host|'zypper' 'in' 'a'|
2026-01-01 10:00:01|install|a|1.0-1|x86_64|alice@host|repo|sum|
2026-01-01 10:00:01|install|a|1.0-1|i586|alice@host|repo|sum|
2026-01-01 10:00:01|install|b|2:2.0-1|noarch||repo|sum|
2026-01-01 10:00:02|install|d|1-1|noarch|2848:y2base|repo|sum|
broken line
2026-01-01 10:00:03|install|a|
2026-01-01 10:00:04|command|bob@host|'zypper' 'rm' 'b'|
2026-01-01 10:00:05|remove |b|2:2.0-1|noarch|bob@host|
`
	x := newPkgIndex(pkgs)
	recs := make([]zyppRecord, len(pkgs))
	if skipped := parseZyppHistory([]byte(data), x, recs); skipped != 2 {
		t.Errorf("skipped %d, want 2", skipped)
	}
	for i, want := range []struct {
		set     bool
		by, cmd string
	}{
		{true, "alice@host", "'zypper' 'in' 'a'"},
		{false, "", ""},
		{true, "", ""},
		{true, "2848:y2base", "'zypper' 'in' 'a'"},
	} {
		r := recs[i]
		cmd := ""
		if r.command != nil {
			cmd = r.command.cmd
		}
		if r.set != want.set || string(r.by) != want.by || cmd != want.cmd {
			t.Errorf("%s: %v %q %q, want %+v", pkgs[i].Name, r.set, r.by, cmd, want)
		}
	}
}

func TestSplitZyppFields(t *testing.T) {
	for line, want := range map[string]string{
		"a|b||c":           "a,b,,c",
		`a\|b|c\\|d`:       `a|b,c\,d`,
		`trailing\`:        `trailing\`,
		"":                 "",
		`x|'a' 'b\|c'|end`: `x,'a' 'b|c',end`,
	} {
		var parts []string
		for _, f := range splitZyppFields([]byte(line), nil) {
			parts = append(parts, string(f))
		}
		if got := strings.Join(parts, ","); got != want {
			t.Errorf("%q: got %q, want %q", line, got, want)
		}
	}
}

func TestReadLogTail(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(root+"/var/log/zypp", 0o755)
	os.WriteFile(root+zyppHistoryPath, []byte("first line\nsecond line\nthird\n"), 0o644)
	b, err := readLogTail(hostfs.Root(root), zyppHistoryPath, 15)
	if err != nil || string(b) != "third\n" {
		t.Errorf("got %q, %v; want the whole lines of the last 15 bytes", b, err)
	}
}

func FuzzParseZyppHistory(f *testing.F) {
	f.Add(readFixture(f, zyppRoot+zyppHistoryPath))
	f.Add([]byte("d|command|u@h|'z' 'i\\|n'|\nd|install|a|1.0-1|x86_64||r|s|\nd|remove |a|1.0-1|x86_64|u@h|\n"))
	pkgs := []model.Package{{Name: "a", Version: "1.0-1", Arch: "x86_64"}, {Name: "acme-hello", Version: "1.0-1", Arch: "x86_64"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs := make([]zyppRecord, len(pkgs))
		skipped := parseZyppHistory(data, newPkgIndex(pkgs), recs)
		if skipped < 0 || skipped > len(data) {
			t.Fatalf("%d skipped from %d bytes", skipped, len(data))
		}
		for _, r := range recs {
			if len(r.by) > len(data) || r.command != nil && len(r.command.cmd) > 4*len(data) {
				t.Fatalf("record %+v from %d bytes", r, len(data))
			}
		}
	})
}
