package apk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/golden"
)

func TestCollectFixture(t *testing.T) {
	res, err := New(hostfs.Root(fixture.Root(t, "alpine3"))).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 0 {
		t.Errorf("skipped %d records of a clean database", res.Skipped)
	}
	if len(res.Software) != 27 {
		t.Errorf("got %d packages, want 27", len(res.Software))
	}
	golden.AssertJSON(t, filepath.Join("testdata", "alpine3.golden.json"), res.Software)
}

func TestCollectFixtureDetails(t *testing.T) {
	res, err := New(hostfs.Root(fixture.Root(t, "alpine3"))).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]model.Package{}
	for _, p := range res.Software {
		if !p.InstallTime.IsZero() {
			t.Errorf("%s: install time %v; apk records none", p.Name, p.InstallTime)
		}
		byName[p.Name] = p
	}
	want := map[string]model.Package{
		"musl": {
			Source: "apk", Name: "musl", Version: "1.2.4_git20230717-r4", Arch: "x86_64",
			PackageInfo: model.PackageInfo{Maintainer: "Timo Teräs <timo.teras@iki.fi>", Origin: "musl", License: "MIT",
				Summary: "the musl c library (libc) implementation"}, InstalledSize: 667648,
			InstallInfo: model.InstallInfo{Requested: model.RequestedDependency, Evidence: "apk-world"},
		},
		"libcrypto3": {
			Source: "apk", Name: "libcrypto3", Version: "3.1.4-r5", Arch: "x86_64",
			PackageInfo: model.PackageInfo{Maintainer: "Ariadne Conill <ariadne@dereferenced.org>", Origin: "openssl", License: "Apache-2.0",
				Summary: "Crypto library from openssl"}, InstalledSize: 4358144,
			InstallInfo: model.InstallInfo{Requested: model.RequestedDependency, Evidence: "apk-world"},
		},
		// A meta package: no file entries at all.
		"libc-utils": {
			Source: "apk", Name: "libc-utils", Version: "0.7.2-r5", Arch: "x86_64",
			PackageInfo: model.PackageInfo{Maintainer: "Natanael Copa <ncopa@alpinelinux.org>", Origin: "libc-dev",
				License: "BSD-2-Clause AND BSD-3-Clause", Summary: "Meta package to pull in correct libc"}, InstalledSize: 4096,
			InstallInfo: model.InstallInfo{Requested: model.RequestedExplicit, Evidence: "apk-world"},
		},
	}
	for name, w := range want {
		if got := byName[name]; !got.Equal(&w) {
			t.Errorf("%s:\n got  %+v\n want %+v", name, got, w)
		}
	}
	for i := 1; i < len(res.Software); i++ {
		if res.Software[i-1].Name > res.Software[i].Name {
			t.Fatalf("not sorted: %s before %s", res.Software[i-1].Name, res.Software[i].Name)
		}
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
		// Cut after "P:nginx": the last record has no version.
		{name: "truncated", root: "truncated", packages: 16, skipped: 1},
		{name: "record without name", root: "missing-name", packages: 2, skipped: 1},
		{name: "binary garbage", root: "garbage", skipped: 1, wantErr: ErrMalformed},
		{
			name: "database is a directory",
			setup: func(t *testing.T, root string) {
				mkdir(t, filepath.Join(root, "lib/apk/db/installed"))
			},
			wantErr: errIsDir,
		},
		{
			name: "line longer than the buffer",
			setup: func(t *testing.T, root string) {
				long := "D:" + strings.Repeat("so:libx.so.1 ", maxLine/12)
				db := record0("musl", "1.2.4_git20230717-r4") + "\n" +
					record0("busybox", "1.36.1-r15") + long + "\n\n" +
					record0("zlib", "1.3.1-r0")
				write(t, filepath.Join(root, DBPath), db)
			},
			packages: 2, skipped: 1,
		},
		{
			name: "no final newline",
			setup: func(t *testing.T, root string) {
				write(t, filepath.Join(root, DBPath), "P:musl\nV:1.2.4_git20230717-r4\n\nP:zlib\nV:1.3.1-r0")
			},
			packages: 2,
		},
		{
			name: "two records run together",
			setup: func(t *testing.T, root string) {
				write(t, filepath.Join(root, DBPath), "P:musl\nV:1.2.4_git20230717-r4\nP:zlib\nV:1.3.1-r0\n\nP:a\nV:1-r0\n")
			},
			packages: 1, skipped: 1,
		},
		{
			name: "blank lines between and around records",
			setup: func(t *testing.T, root string) {
				write(t, filepath.Join(root, DBPath), "\n\nP:musl\nV:1.2.4_git20230717-r4\n\n\n\nP:zlib\nV:1.3.1-r0\n\n\n")
			},
			packages: 2,
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
			switch {
			case tc.wantErr == errIsDir:
				if err == nil || errors.Is(err, source.ErrNotPresent) {
					t.Fatalf("err = %v, want a read error", err)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			}
			if err != nil && !strings.Contains(err.Error(), DBPath) && !errors.Is(err, source.ErrNotPresent) {
				t.Errorf("error %q does not name %s", err, DBPath)
			}
			if len(res.Software) != tc.packages || res.Skipped != tc.skipped {
				t.Errorf("got %d packages, %d skipped; want %d, %d", len(res.Software), res.Skipped, tc.packages, tc.skipped)
			}
		})
	}
}

// errIsDir stands for "some read error that is not ErrNotPresent".
var errIsDir = errors.New("read error")

func TestParseLimits(t *testing.T) {
	long := strings.Repeat("é", maxFieldLen) // two bytes each: cut in the middle of a rune
	db := "P:musl\nV:1.2.4_git20230717-r4\nT:" + long + "\nm:" + long + "\n"
	pkgs, skipped, err := Parse(strings.NewReader(db))
	if err != nil || skipped != 0 || len(pkgs) != 1 {
		t.Fatalf("got %d packages, %d skipped, %v", len(pkgs), skipped, err)
	}
	// Cut at a rune boundary, with the marker, within the limit.
	want := strings.Repeat("é", (maxFieldLen-len(protocol.CutMarker))/2) + protocol.CutMarker
	for _, s := range []string{pkgs[0].Summary, pkgs[0].Maintainer} {
		if s != want {
			t.Errorf("value of %d bytes ending %q, want %d bytes ending with the cut marker", len(s), s[len(s)-6:], len(want))
		}
	}
}

func TestCollectCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := New(hostfs.Root(fixture.Root(t, "alpine3"))).Collect(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestWatchPaths(t *testing.T) {
	got := New("/host").WatchPaths()
	if len(got) != 2 || got[0] != "/host/lib/apk/db" || got[1] != "/host/etc/apk" {
		t.Fatalf("WatchPaths = %q", got)
	}
	var _ source.Watcher = New("/")
}

func FuzzParse(f *testing.F) {
	seeds := []string{
		filepath.Join(fixture.Roots(f), "alpine3", DBPath),
		filepath.Join("testdata", "truncated", DBPath),
		filepath.Join("testdata", "missing-name", DBPath),
		filepath.Join("testdata", "garbage", DBPath),
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("P:a\nV:1\n\nP:b\n\x00\nV:2\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, skipped, err := Parse(bytes.NewReader(data))
		if err != nil && len(pkgs) > 0 {
			t.Fatalf("error %v with %d packages", err, len(pkgs))
		}
		// Every package and every skip is a record, and records are separated by lines.
		if n := bytes.Count(data, []byte("\n")) + 1; len(pkgs)+skipped > n {
			t.Fatalf("%d packages + %d skipped from %d lines", len(pkgs), skipped, n)
		}
		if err == nil && len(data) > 0 && len(pkgs) == 0 && skipped > 0 {
			t.Fatalf("only malformed records but no error")
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" || p.Source != "apk" || len(p.Summary) > maxFieldLen ||
				len(p.Maintainer) > maxFieldLen || !p.InstallTime.IsZero() {
				t.Fatalf("invalid package %+v", p)
			}
			if !bytes.Contains(data, []byte("P:"+p.Name)) || !bytes.Contains(data, []byte("V:"+p.Version)) {
				t.Fatalf("package %s %s not in the input", p.Name, p.Version)
			}
		}
	})
}

func BenchmarkCollectFixture(b *testing.B) {
	s := New(hostfs.Root(fixture.Root(b, "alpine3")))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Collect(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCollect800 reads a database of 800 packages with 40 file entries each, about the
// size of a busy Alpine server's, so the cost per package shows.
func BenchmarkCollect800(b *testing.B) {
	root := b.TempDir()
	var sb strings.Builder
	for i := range 800 {
		sb.WriteString(record0(fmt.Sprintf("pkg%03d", i), "1.2.3-r4"))
		sb.WriteString("D:so:libc.musl-x86_64.so.1 so:libcrypto.so.3 so:libz.so.1\np:cmd:pkg=1.2.3-r4\n")
		sb.WriteString("F:usr/lib/pkg\n")
		for j := range 20 {
			fmt.Fprintf(&sb, "R:file%02d.so\na:0:0:755\nZ:Q1pNGJ/rGKQ3trtRjp4NEIHpr1pJk=\n", j)
		}
		sb.WriteString("\n")
	}
	write(b, filepath.Join(root, DBPath), sb.String())
	b.SetBytes(int64(sb.Len()))
	s := New(hostfs.Root(root))
	b.ReportAllocs()
	for b.Loop() {
		res, err := s.Collect(context.Background())
		if err != nil || len(res.Software) != 800 {
			b.Fatal(len(res.Software), err)
		}
	}
}

// record0 returns the header of a record as apk writes it, without the blank line.
func record0(name, version string) string {
	return "C:Q1MKwMTbXqyCW0bDCzgOlAPiKEGzc=\nP:" + name + "\nV:" + version + "\nA:x86_64\nS:54253\nI:110592\n" +
		"T:A compression/decompression Library\nU:https://zlib.net/\nL:Zlib\no:zlib\n" +
		"m:Natanael Copa <ncopa@alpinelinux.org>\nt:1705918476\nc:1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d\n"
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
