package kmod

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/golden"
)

func TestCollect(t *testing.T) {
	res, err := New("testdata/root").Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	golden.AssertJSON(t, "testdata/root.golden.json", res)
	byName := map[string]int{}
	for i, p := range res.Software {
		byName[p.Name] = i
		if p.Title() != "kmod:"+p.Name {
			t.Errorf("title %s", p.Title())
		}
	}
	release, err := os.ReadFile("testdata/root/proc/sys/kernel/osrelease")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, version, state string
		outOfTree            bool
	}{
		{"zfs", "2.1.11-1", "", true},                           // the version file
		{"spl", "E3CE2D1CE07F1B6A2E2A4E8", "", true},            // srcversion
		{"ext4", strings.TrimSpace(string(release)), "", false}, // the kernel's release
		{"bridge", "2.3", "", false},
		{"nf_tables", strings.TrimSpace(string(release)), "loading", false},
	}
	for _, tt := range tests {
		i, ok := byName[tt.name]
		if !ok {
			t.Errorf("%s missing", tt.name)
			continue
		}
		p := res.Software[i]
		if p.Version != tt.version || p.State != tt.state || (p.Labels["out_of_tree"] == "true") != tt.outOfTree || p.Platform == tt.outOfTree {
			t.Errorf("%s: %+v", tt.name, p)
		}
	}
}

func TestNotPresent(t *testing.T) {
	if _, err := New(hostfs.Root(t.TempDir())).Collect(context.Background()); !errors.Is(err, source.ErrNotPresent) {
		t.Errorf("err = %v", err)
	}
}

// TestHostile: a module name that would walk out of /sys/module, control characters in the
// sysfs files, and malformed lines are skipped or escaped, never followed.
func TestHostile(t *testing.T) {
	root := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("/proc/modules", "../../etc 1 0 - Live 0x0\nok 1 0 - Live 0x0\nbad x 0 - Live 0x0\nok 2 0 - Live 0x0\n"+
		"t 1 0 - Live 0x0 (o)\nshort 1\n")
	write("/sys/module/ok/version", "1.0\x1b[31m\xff\n")
	res, err := New(hostfs.Root(root)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Software) != 1 || res.Skipped != 5 {
		t.Fatalf("%d modules, %d skipped: %+v", len(res.Software), res.Skipped, res.Software)
	}
	if v := res.Software[0].Version; v != protocol.CleanText(v, protocol.MaxFieldLen) || !strings.HasPrefix(v, "1.0\\x1b") {
		t.Errorf("version %q not escaped", v)
	}
}

func TestParseModules(t *testing.T) {
	mods, skipped := ParseModules([]byte("zfs 6078464 6 spl, Live 0xffffffffc0a00000 (POE)\n\n" +
		"llc 16384 2 bridge,stp, Unloading 0xffffffffc0300000\nx 1 0 - Gone 0x0\n"))
	if skipped != 1 || len(mods) != 2 {
		t.Fatalf("%+v, %d skipped", mods, skipped)
	}
	if mods[0] != (Module{Name: "zfs", Size: 6078464, Taint: "POE"}) || mods[1] != (Module{Name: "llc", Size: 16384, State: "unloading"}) {
		t.Errorf("%+v", mods)
	}
}

func FuzzParseModules(f *testing.F) {
	if b, err := os.ReadFile("testdata/root/proc/modules"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("a 1 0 - Live 0x0 (OE)\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		mods, skipped := ParseModules(b)
		if len(mods)+skipped > len(b) {
			t.Fatalf("%d+%d records from %d bytes", len(mods), skipped, len(b))
		}
		for _, m := range mods {
			if !validName([]byte(m.Name)) || strings.ContainsAny(m.Taint, "() ") {
				t.Fatalf("%+v", m)
			}
		}
	})
}

func BenchmarkCollect(b *testing.B) {
	s := New("testdata/root")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Collect(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
