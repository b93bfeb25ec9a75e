package pacman

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/golden"
)

func TestCollectFixture(t *testing.T) {
	res, err := New(hostfs.Root(fixture.Root(t, "arch"))).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 0 {
		t.Errorf("skipped %d entries of a clean database", res.Skipped)
	}
	if len(res.Software) != 22 {
		t.Errorf("got %d packages, want 22", len(res.Software))
	}
	golden.AssertJSON(t, filepath.Join("testdata", "arch.golden.json"), res.Software)
}

func TestCollectFixtureDetails(t *testing.T) {
	res, err := New(hostfs.Root(fixture.Root(t, "arch"))).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]model.Package{}
	for _, p := range res.Software {
		byName[p.Name] = p
	}
	want := map[string]model.Package{
		"glibc": {
			Source: "pacman", Name: "glibc", Version: "2.39-1", Arch: "x86_64",
			InstallTime: time.Date(2024, 5, 2, 9, 8, 31, 0, time.UTC),
			PackageInfo: model.PackageInfo{Maintainer: "Frederik Schwan <freswa@archlinux.org>", Origin: "glibc",
				License: "GPL-2.0-or-later AND LGPL-2.1-or-later", Summary: "GNU C Library"},
			InstallInfo: model.InstallInfo{Requested: "explicit", Evidence: "pacman-db"},
		},
		// An epoch, and a license that is a choice.
		"less": {
			Source: "pacman", Name: "less", Version: "1:643-1", Arch: "x86_64",
			InstallTime: time.Date(2024, 5, 2, 9, 8, 32, 0, time.UTC),
			PackageInfo: model.PackageInfo{Maintainer: "Sébastien Luttringer <seblu@archlinux.org>", Origin: "less",
				License: "GPL-3.0-or-later OR BSD-2-Clause", Summary: "A terminal based program for viewing text files"},
			InstallInfo: model.InstallInfo{Requested: "explicit", Evidence: "pacman-db"},
		},
		// Built from the postgresql PKGBUILD.
		"postgresql-libs": {
			Source: "pacman", Name: "postgresql-libs", Version: "16.2-3", Arch: "x86_64",
			InstallTime: time.Date(2024, 5, 6, 14, 41, 38, 0, time.UTC),
			PackageInfo: model.PackageInfo{Maintainer: "Levente Polyak <anthraxx@archlinux.org>", Origin: "postgresql",
				License: "PostgreSQL", Summary: "Libraries for use with PostgreSQL"},
			InstallInfo: model.InstallInfo{Requested: "dependency", Evidence: "pacman-db"},
		},
		// In two groups: the first is the section.
		"xorg-xauth": {
			Source: "pacman", Name: "xorg-xauth", Version: "1.1.3-1", Arch: "x86_64",
			InstallTime: time.Date(2024, 5, 7, 14, 32, 45, 0, time.UTC),
			PackageInfo: model.PackageInfo{Maintainer: "Andreas Radke <andyrtr@archlinux.org>", Section: "xorg-apps", Origin: "xorg-xauth",
				License: "MIT-open-group", Summary: "X.Org authorization settings program"},
			InstallInfo: model.InstallInfo{Requested: "explicit", Evidence: "pacman-db"},
		},
	}
	for name, w := range want {
		got := byName[name]
		if got.InstalledSize == 0 {
			t.Errorf("%s: no installed size", name)
		}
		got.InstalledSize = 0
		if !got.Equal(&w) {
			t.Errorf("%s:\n got  %+v\n want %+v", name, got, w)
		}
	}
	if p := byName["base-devel"]; p.Arch != "any" || p.InstalledSize != 0 {
		t.Errorf("base-devel (arch any, no files) = %+v", p)
	}
	if p := byName["linux"]; p.Version != "6.8.9.arch1-2" || p.InstalledSize < 100<<20 {
		t.Errorf("linux = %+v", p)
	}
}

func TestCollectEdgeCases(t *testing.T) {
	tests := []struct {
		name     string
		root     string // under testdata, or "" for a fresh empty root
		setup    func(t *testing.T, root string)
		packages int
		skipped  int
		wantErr  error // nil: no error
	}{
		{name: "absent", wantErr: source.ErrNotPresent},
		{name: "empty database", root: "empty"},
		// glibc is whole; nginx has no desc, bash's is binary, zlib's is cut after %NAME%,
		// openssl's names another version, curl's has no %NAME%.
		{name: "corrupt entries", root: "corrupt", packages: 1, skipped: 5},
		{name: "no valid entry", root: "allbad", skipped: 1, wantErr: ErrMalformed},
		{name: "garbled ALPM_DB_VERSION", root: "badversion", wantErr: ErrMalformed},
		{name: "newer ALPM_DB_VERSION", root: "futureversion", wantErr: ErrUnsupportedVersion},
		{
			name: "database is a file",
			setup: func(t *testing.T, root string) {
				write(t, filepath.Join(root, DBDir), "9\n")
			},
			wantErr: ErrMalformed,
		},
		{
			name: "no ALPM_DB_VERSION",
			setup: func(t *testing.T, root string) {
				writeDesc(t, root, "zlib", "1:1.3.1-1")
			},
			packages: 1,
		},
		{
			name: "links in the database",
			setup: func(t *testing.T, root string) {
				writeDesc(t, root, "zlib", "1:1.3.1-1")
				// A linked package directory, and a desc linked out of the database.
				writeDesc(t, filepath.Join(root, "elsewhere"), "glibc", "2.39-1")
				symlink(t, filepath.Join(root, "elsewhere", DBDir, "glibc-2.39-1"), filepath.Join(root, DBDir, "glibc-2.39-1"))
				mkdir(t, filepath.Join(root, DBDir, "bash-5.2.026-2"))
				symlink(t, "../../../../../elsewhere/var/lib/pacman/local/glibc-2.39-1/desc", filepath.Join(root, DBDir, "bash-5.2.026-2", "desc"))
			},
			packages: 1, skipped: 2,
		},
		{
			name: "desc larger than the cap",
			setup: func(t *testing.T, root string) {
				writeDesc(t, root, "zlib", "1:1.3.1-1")
				big := descFile("glibc", "2.39-1") + "\n%OPTDEPENDS%\n" + strings.Repeat("perl: for mtrace\n", maxDesc/16)
				write(t, filepath.Join(root, DBDir, "glibc-2.39-1", "desc"), big)
			},
			packages: 1, skipped: 1,
		},
		{
			name: "files and hidden entries are not packages",
			setup: func(t *testing.T, root string) {
				writeDesc(t, root, "zlib", "1:1.3.1-1")
				write(t, filepath.Join(root, DBDir, "ALPM_DB_VERSION"), "9\n")
				write(t, filepath.Join(root, DBDir, "README"), "x")
				mkdir(t, filepath.Join(root, DBDir, ".cache"))
			},
			packages: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.root != "" {
				root = filepath.Join("testdata", tc.root)
			}
			if tc.setup != nil {
				tc.setup(t, root)
			}
			res, err := New(hostfs.Root(root)).Collect(context.Background())
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if !errors.Is(err, source.ErrNotPresent) && !strings.Contains(err.Error(), DBDir) {
					t.Errorf("error %q does not name %s", err, DBDir)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if len(res.Software) != tc.packages || res.Skipped != tc.skipped {
				t.Errorf("got %d packages, %d skipped; want %d, %d", len(res.Software), res.Skipped, tc.packages, tc.skipped)
			}
		})
	}
}

func TestParseDesc(t *testing.T) {
	tests := []struct {
		name string
		desc string
		want model.Package // zero: malformed
	}{
		{
			name: "minimal",
			desc: "%NAME%\nzlib\n\n%VERSION%\n1:1.3.1-1\n",
			want: model.Package{Source: "pacman", Name: "zlib", Version: "1:1.3.1-1"},
		},
		{
			name: "sections in any order, unknown ones ignored, CRLF",
			desc: "%XDATA%\npkgtype=pkg\r\n\r\n%VERSION%\r\n1.0-1\r\n\r\n%NAME%\r\na\r\n\r\n%SIZE%\r\n42\r\n",
			want: model.Package{Source: "pacman", Name: "a", Version: "1.0-1", InstalledSize: 42},
		},
		{
			name: "three licenses, one a choice",
			desc: "%NAME%\na\n\n%VERSION%\n1-1\n\n%LICENSE%\nMIT\nGPL-2.0-only OR Apache-2.0\ncustom:none\n",
			want: model.Package{Source: "pacman", Name: "a", Version: "1-1", PackageInfo: model.PackageInfo{License: "MIT AND (GPL-2.0-only OR Apache-2.0) AND custom:none"}},
		},
		{
			name: "bad numbers are left out",
			desc: "%NAME%\na\n\n%VERSION%\n1-1\n\n%INSTALLDATE%\nyesterday\n\n%SIZE%\n-1\n",
			want: model.Package{Source: "pacman", Name: "a", Version: "1-1"},
		},
		{
			name: "installed as a dependency",
			desc: "%NAME%\na\n\n%VERSION%\n1-1\n\n%REASON%\n1\n",
			want: model.Package{Source: "pacman", Name: "a", Version: "1-1", InstallInfo: model.InstallInfo{Requested: "dependency"}},
		},
		{
			name: "reason 0 is explicit",
			desc: "%NAME%\na\n\n%VERSION%\n1-1\n\n%REASON%\n0\n",
			want: model.Package{Source: "pacman", Name: "a", Version: "1-1"},
		},
		{name: "no version", desc: "%NAME%\nzlib\n"},
		{name: "no release", desc: "%NAME%\nzlib\n\n%VERSION%\n1.3.1\n"},
		{name: "no name", desc: "%VERSION%\n1.3.1-1\n"},
		{name: "name with a slash", desc: "%NAME%\n../etc\n\n%VERSION%\n1-1\n"},
		{name: "two names", desc: "%NAME%\na\n\n%VERSION%\n1-1\n\n%NAME%\nb\n"},
		{name: "value outside a section", desc: "zlib\n%NAME%\na\n\n%VERSION%\n1-1\n"},
		{name: "empty", desc: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseDesc([]byte(tc.desc), "", make(source.Interner))
			if tc.want.Name != "" {
				// No %REASON%, or 0: installed explicitly, as pacman -Qe lists it.
				if tc.want.Requested == "" {
					tc.want.Requested = "explicit"
				}
				tc.want.Evidence = "pacman-db"
			}
			if ok != (tc.want.Name != "") || !got.Equal(&tc.want) {
				t.Errorf("parseDesc = %+v, %v; want %+v", got, ok, tc.want)
			}
		})
	}
}

func TestCollectCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := New(hostfs.Root(fixture.Root(t, "arch"))).Collect(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestWatchPaths(t *testing.T) {
	got := New("/host").WatchPaths()
	if len(got) != 1 || got[0] != "/host/var/lib/pacman/local" {
		t.Fatalf("WatchPaths = %q", got)
	}
	var _ source.Watcher = New("/")
}

func FuzzParseDesc(f *testing.F) {
	descs, err := filepath.Glob(filepath.Join(fixture.Roots(f), "arch", DBDir, "*", "desc"))
	if err != nil || len(descs) == 0 {
		f.Fatal("no desc files in the arch fixture", err)
	}
	more, _ := filepath.Glob(filepath.Join("testdata", "*", DBDir, "*", "desc"))
	for _, p := range append(descs, more...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, ok := parseDesc(data, "", make(source.Interner))
		if !ok {
			if !p.Equal(&model.Package{}) {
				t.Fatalf("malformed entry returned %+v", p)
			}
			return
		}
		if p.Source != "pacman" || !validName([]byte(p.Name)) || !validVersion([]byte(p.Version)) ||
			len(p.Summary) > maxFieldLen || len(p.Maintainer) > maxFieldLen || len(p.Section) > maxFieldLen {
			t.Fatalf("invalid package %+v", p)
		}
		if !bytes.Contains(data, []byte("\n"+p.Version)) && !bytes.HasPrefix(data, []byte(p.Version)) {
			t.Fatalf("version %q not in the input", p.Version)
		}
		if !p.InstallTime.IsZero() && p.InstallTime.Location() != time.UTC {
			t.Fatalf("install time %v not UTC", p.InstallTime)
		}
	})
}

func BenchmarkCollectFixture(b *testing.B) {
	s := New(hostfs.Root(fixture.Root(b, "arch")))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Collect(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCollect800 reads a database of 800 packages, about a desktop's, so the cost per
// package shows.
func BenchmarkCollect800(b *testing.B) {
	root := b.TempDir()
	for i := range 800 {
		writeDesc(b, root, fmt.Sprintf("pkg%03d", i), "1:2.3.4-5")
	}
	write(b, filepath.Join(root, DBDir, "ALPM_DB_VERSION"), "9\n")
	s := New(hostfs.Root(root))
	b.ReportAllocs()
	for b.Loop() {
		res, err := s.Collect(context.Background())
		if err != nil || len(res.Software) != 800 {
			b.Fatal(len(res.Software), err)
		}
	}
}

// descFile returns a desc file as pacman writes it.
func descFile(name, version string) string {
	return "%NAME%\n" + name + "\n\n%VERSION%\n" + version + "\n\n%BASE%\n" + name + "\n\n" +
		"%DESC%\nCompression library implementing the deflate compression method found in gzip and PKZIP\n\n" +
		"%URL%\nhttps://www.zlib.net/\n\n%ARCH%\nx86_64\n\n%BUILDDATE%\n1706099032\n\n%INSTALLDATE%\n1714640911\n\n" +
		"%PACKAGER%\nLevente Polyak <anthraxx@archlinux.org>\n\n%SIZE%\n355346\n\n%LICENSE%\nZlib\n\n" +
		"%VALIDATION%\npgp\n\n%DEPENDS%\nglibc\n\n%PROVIDES%\nlibz.so=1-64\n\n"
}

func writeDesc(t testing.TB, root, name, version string) {
	t.Helper()
	write(t, filepath.Join(root, DBDir, name+"-"+version, "desc"), descFile(name, version))
}

func write(t testing.TB, path, data string) {
	t.Helper()
	mkdir(t, filepath.Dir(path))
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t testing.TB, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
