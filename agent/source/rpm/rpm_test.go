package rpm

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/testutil/golden"
)

const roots = "../../testdata/roots"

// fixtures are the root trees with an rpm database, and the directory of their database.
var fixtures = []struct {
	name, root, dbDir string
}{
	{"rocky9", roots + "/rocky9", "/var/lib/rpm"},
	{"centos7", roots + "/centos7", "/var/lib/rpm"},
	{"opensuse15", roots + "/opensuse15", "/usr/lib/sysimage/rpm"},
	{"wal", "testdata/wal", "/var/lib/rpm"},
	{"dnf4", "testdata/dnf4", "/var/lib/rpm"},
	{"dnf5", "testdata/dnf5", "/usr/lib/sysimage/rpm"},
	{"zypp", "testdata/zypp", "/usr/lib/sysimage/rpm"},
	{"yum", "testdata/yum", "/var/lib/rpm"},
}

type goldenResult struct {
	Software []model.Package `json:"software"`
	Skipped  int             `json:"skipped"`
}

func TestCollect(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			res, err := New(hostfs.Root(fx.root)).Collect(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range res.Software {
				if p.Name == pubkeyName {
					t.Errorf("gpg-pubkey reported: %+v", p)
				}
				if p.Source != "rpm" || p.Version == "" || p.InstallTime.IsZero() {
					t.Errorf("incomplete package: %+v", p)
				}
			}
			golden.AssertJSON(t, "testdata/"+fx.name+".golden.json", goldenResult{res.Software, res.Skipped})
		})
	}
}

func TestCollectFields(t *testing.T) {
	res, err := New(hostfs.Root(roots + "/rocky9")).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]model.Package{
		"openssl-libs": {
			Source: "rpm", Name: "openssl-libs", Version: "1:3.0.7-27.el9", Arch: "x86_64",
			InstallTime: time.Unix(1715336711, 0).UTC(),
			PackageInfo: model.PackageInfo{
				Vendor:     "Rocky Enterprise Software Foundation",
				Maintainer: "Rocky Linux Build System (Peridot) <releng@rockylinux.org>",
				Section:    "Unspecified", Origin: "openssl-3.0.7-27.el9.src.rpm", License: "ASL 2.0",
				Summary: "A general purpose cryptography library with TLS implementation",
			},
			InstalledSize: 6308459,
		},
		"bash":   {Version: "5.1.8-9.el9", Arch: "x86_64"},
		"nginx":  {Version: "1:1.20.1-14.el9_2.1"},
		"tzdata": {Version: "2024a-1.el9", Arch: "noarch"},
	}
	got := map[string]model.Package{}
	for _, p := range res.Software {
		got[p.Name] = p
	}
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s missing", name)
		case w.Source != "" && !g.Equal(&w):
			t.Errorf("%s:\n got %+v\nwant %+v", name, g, w)
		case g.Version != w.Version || (w.Arch != "" && g.Arch != w.Arch):
			t.Errorf("%s: got %s %s, want %s %s", name, g.Version, g.Arch, w.Version, w.Arch)
		}
	}
	if len(res.Software) != 23 || res.Skipped != 0 {
		t.Errorf("got %d packages, %d skipped; want 23 (24 headers less gpg-pubkey), 0", len(res.Software), res.Skipped)
	}
}

// TestWAL checks that committed transactions still in the WAL are read: the fixture's WAL
// erases nginx and replaces bash's header.
func TestWAL(t *testing.T) {
	res, err := New(hostfs.Root("testdata/wal")).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, p := range res.Software {
		n[p.Name]++
	}
	if n["nginx"] != 0 || n["bash"] != 1 || len(res.Software) != 22 {
		t.Errorf("nginx %d, bash %d, %d packages; want 0, 1, 22", n["nginx"], n["bash"], len(res.Software))
	}
}

func TestCollectErrors(t *testing.T) {
	tests := []struct {
		name, root string
		want       error
		path       string
	}{
		{"truncated sqlite", "testdata/truncated", ErrMalformed, "/var/lib/rpm/rpmdb.sqlite"},
		{"garbage sqlite", "testdata/garbage", ErrMalformed, "/var/lib/rpm/rpmdb.sqlite"},
		{"garbage bdb", "testdata/garbage-bdb", ErrMalformed, "/var/lib/rpm/Packages"},
		{"garbage ndb", "testdata/garbage-ndb", ErrMalformed, "/usr/lib/sysimage/rpm/Packages.db"},
		{"no database", t.TempDir(), source.ErrNotPresent, ""},
		{"debian", roots + "/debian12", source.ErrNotPresent, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := New(hostfs.Root(tt.root)).Collect(context.Background())
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q does not name %s", err, tt.path)
			}
			if len(res.Software) != 0 {
				t.Errorf("got %d packages with an error", len(res.Software))
			}
		})
	}
}

type fileState struct {
	mode  fs.FileMode
	mtime time.Time
	sum   [32]byte
	link  string
}

// snapshot records every file of the tree under dir.
func snapshot(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	m := map[string]fileState{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fileState{mode: fi.Mode(), mtime: fi.ModTime()}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			st.link, err = os.Readlink(p)
		case fi.Mode().IsRegular():
			var b []byte
			b, err = os.ReadFile(p)
			st.sum = sha256.Sum256(b)
		}
		m[p] = st
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestReadOnly proves that reading leaves the fixture trees as they were: no new file (no
// -shm, -wal or lock file), the same bytes and the same modification times.
func TestReadOnly(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			before := snapshot(t, fx.root)
			src := New(hostfs.Root(fx.root))
			for range 2 {
				if _, err := src.Collect(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := New(hostfs.Root(fx.root)).Collect(context.Background()); err != nil {
				t.Fatal(err)
			}
			after := snapshot(t, fx.root)
			for p, b := range before {
				if a, ok := after[p]; !ok {
					t.Errorf("%s removed", p)
				} else if a != b {
					t.Errorf("%s changed: %+v -> %+v", p, b, a)
				}
			}
			for p := range after {
				if _, ok := before[p]; !ok {
					t.Errorf("%s created", p)
				}
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFind(t *testing.T) {
	sqlite := roots + "/rocky9/var/lib/rpm/rpmdb.sqlite"
	bdb := roots + "/centos7/var/lib/rpm/Packages"
	ndb := roots + "/opensuse15/usr/lib/sysimage/rpm/Packages.db"
	old := time.Unix(1600000000, 0)
	tests := []struct {
		name  string
		setup func(t *testing.T, root string)
		want  string // host path of the database read
	}{
		{"sqlite in var", func(t *testing.T, r string) {
			copyFile(t, sqlite, r+"/var/lib/rpm/rpmdb.sqlite")
		}, "/var/lib/rpm/rpmdb.sqlite"},
		{"sqlite preferred to a leftover Packages", func(t *testing.T, r string) {
			copyFile(t, bdb, r+"/var/lib/rpm/Packages")
			copyFile(t, sqlite, r+"/var/lib/rpm/rpmdb.sqlite")
		}, "/var/lib/rpm/rpmdb.sqlite"},
		{"sysimage through an absolute link", func(t *testing.T, r string) {
			copyFile(t, ndb, r+"/usr/lib/sysimage/rpm/Packages.db")
			os.MkdirAll(r+"/var/lib", 0o755)
			if err := os.Symlink("/usr/lib/sysimage/rpm", r+"/var/lib/rpm"); err != nil {
				t.Fatal(err)
			}
		}, "/usr/lib/sysimage/rpm/Packages.db"},
		{"newer of two databases", func(t *testing.T, r string) {
			copyFile(t, sqlite, r+"/usr/lib/sysimage/rpm/rpmdb.sqlite")
			os.Chtimes(r+"/usr/lib/sysimage/rpm/rpmdb.sqlite", old, old)
			copyFile(t, bdb, r+"/var/lib/rpm/Packages")
		}, "/var/lib/rpm/Packages"},
		{"absolute link to the database", func(t *testing.T, r string) {
			copyFile(t, sqlite, r+"/srv/rpmdb.sqlite")
			os.MkdirAll(r+"/var/lib/rpm", 0o755)
			if err := os.Symlink("/srv/rpmdb.sqlite", r+"/var/lib/rpm/rpmdb.sqlite"); err != nil {
				t.Fatal(err)
			}
		}, "/var/lib/rpm/rpmdb.sqlite"},
		{"directory named like a database", func(t *testing.T, r string) {
			os.MkdirAll(r+"/usr/lib/sysimage/rpm/rpmdb.sqlite", 0o755)
			copyFile(t, ndb, r+"/usr/lib/sysimage/rpm/Packages.db")
		}, "/usr/lib/sysimage/rpm/Packages.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			tt.setup(t, root)
			db, err := New(hostfs.Root(root)).find()
			if err != nil {
				t.Fatal(err)
			}
			if db.hostPath != tt.want {
				t.Errorf("read %s, want %s", db.hostPath, tt.want)
			}
		})
	}
}

func TestCache(t *testing.T) {
	root := t.TempDir()
	db := root + "/var/lib/rpm/rpmdb.sqlite"
	copyFile(t, roots+"/rocky9/var/lib/rpm/rpmdb.sqlite", db)
	src := New(hostfs.Root(root))
	first, err := src.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	first.Software[0].Name = "changed by the caller"
	second, err := src.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if second.Software[0].Name == "changed by the caller" {
		t.Error("cached packages shared with the caller")
	}
	// A WAL appearing beside the database is a change.
	copyFile(t, "testdata/wal/var/lib/rpm/rpmdb.sqlite", db)
	copyFile(t, "testdata/wal/var/lib/rpm/rpmdb.sqlite-wal", db+"-wal")
	third, err := src.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(third.Software) != 22 {
		t.Errorf("after the change: %d packages, want 22", len(third.Software))
	}
}

func TestCollectCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := New(hostfs.Root(roots + "/rocky9")).Collect(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestWatchPaths(t *testing.T) {
	root, _ := filepath.Abs(roots + "/opensuse15")
	got := New(hostfs.Root(root)).WatchPaths()
	want := []string{root + "/usr/lib/sysimage/rpm", root + "/var/lib/dnf", root + "/usr/lib/sysimage/libdnf5", root + "/var/lib/zypp"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want the sysimage directory once and dnf's", got)
	}
}

func BenchmarkCollect(b *testing.B) {
	for _, fx := range fixtures[:3] {
		b.Run(fx.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := New(hostfs.Root(fx.root)).Collect(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fx.name+"/unchanged", func(b *testing.B) {
			src := New(hostfs.Root(fx.root))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := src.Collect(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenSQLite measures opening the sqlite database: its header and its schema.
func BenchmarkOpenSQLite(b *testing.B) {
	f, err := os.Open(roots + "/rocky9/var/lib/rpm/rpmdb.sqlite")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	b.ReportAllocs()
	for b.Loop() {
		db, err := openSQLite(f, fi.Size(), nil, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.tableRoot("Packages"); err != nil {
			b.Fatal(err)
		}
	}
}
