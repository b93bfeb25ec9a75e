//go:build unix

package rpm

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/internal/model"
)

const yumRoot = "testdata/yum"

func TestYumdb(t *testing.T) {
	got, skipped := attributions(t, yumRoot)
	const e = evidenceYumdb
	checkAttributions(t, got, map[string]attribution{
		"acme-hello":    {"explicit", "alice", "install acme-hello", e},
		"acme-libhello": {"dependency", "alice", "install acme-hello", e},
		// Upgraded by bob: changed_by.
		"acme-upd":    {"explicit", "bob", "update acme-upd", e},
		"acme-tool":   {"explicit", "root", "install acme-tool", e},
		"acme-marked": {"explicit", "uid:1234", `install acme-marked --setopt=base.name=\x1b[31m`, e},
		"acme-bare":   {},
	})
	if skipped != 1 { // the stray file
		t.Errorf("skipped %d, want 1", skipped)
	}
}

func TestYumdbHostile(t *testing.T) {
	root := copyTree(t, yumRoot)
	dirs, _ := filepath.Glob(root + "/var/lib/yum/yumdb/a/*-acme-hello-*")
	if len(dirs) != 1 {
		t.Fatal(dirs)
	}
	os.WriteFile(dirs[0]+"/installed_by", []byte("alice"), 0o644) // not a uid
	os.Remove(dirs[0] + "/command_line")
	os.Symlink("/etc/passwd", dirs[0]+"/command_line") // not followed
	os.Remove(dirs[0] + "/reason")
	os.Mkdir(dirs[0]+"/reason", 0o755)
	got, skipped := attributions(t, root)
	if g := got["acme-hello"]; g != (attribution{}) || skipped != 4 {
		t.Errorf("acme-hello %+v, %d skipped; want nothing, 4 skipped", g, skipped)
	}
	if g := got["acme-libhello"]; g.by != "alice" {
		t.Errorf("acme-libhello %+v", g)
	}
}

func TestYumdbKey(t *testing.T) {
	for _, tt := range []struct {
		p    model.Package
		want string
	}{
		{model.Package{Name: "bash", Version: "4.2.46-34.el7", Arch: "x86_64"}, "bash-4.2.46-34.el7-x86_64"},
		{model.Package{Name: "tzdata", Version: "2:2024a-1.el7", Arch: "noarch"}, "tzdata-2024a-1.el7-noarch"},
		{model.Package{Name: "a/b~c", Version: "1-1", Arch: "noarch"}, "abc-1-1-noarch"},
	} {
		if got := yumdbKey(&tt.p); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.p, got, tt.want)
		}
	}
}

func BenchmarkYumdb(b *testing.B) {
	pkgs := fixturePackagesOf(b, yumRoot)
	b.ReportAllocs()
	for b.Loop() {
		out := make([]model.Package, len(pkgs))
		copy(out, pkgs)
		var names map[int64]string
		if n := yumdbInfo(hostfs.Root(yumRoot), newPkgIndex(out), &names); n != 1 {
			b.Fatalf("%d skipped", n)
		}
	}
}
