//go:build unix

package cargo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/agent/source/sourcetest"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/golden"
)

// collect reads root and zeroes the install times, which a checkout does not keep, once
// checked against the binaries' modification times.
func collect(t *testing.T, root string) source.Result {
	t.Helper()
	return sourcetest.CollectStamped(t, New(hostfs.Root(root)), root, os.Stat)
}

func TestCollect(t *testing.T) {
	res := collect(t, "testdata/root")
	golden.AssertJSON(t, "testdata/root.golden.json", res)
	if res.Skipped != 0 {
		t.Errorf("%d skipped", res.Skipped)
	}
	type want struct{ version, user, location, bins, source string }
	wants := map[string]want{
		"cargo:acme-hello": {"0.4.2", "alice", "/home/alice/.cargo/bin/acme-hello", "acme-hello,acme-hello-admin", "path+file:///src/hello"},
		"cargo:acme-sync":  {"2.3.0-beta.1", "alice", "/home/alice/.cargo/bin/acme-sync", "acme-sync", "git+file:///src/sync#"},
		"cargo:ripgrep":    {"13.0.0", "bob", "/home/bob/.cargo/bin/rg", "rg", "registry+https://github.com/rust-lang/crates.io-index"},
	}
	if len(res.Software) != len(wants) {
		t.Errorf("%d crates, want %d", len(res.Software), len(wants))
	}
	for _, p := range res.Software {
		w, ok := wants[p.Title()]
		if !ok {
			t.Errorf("unexpected %s", p.Title())
			continue
		}
		if p.Version != w.version || p.User != w.user || p.Location != w.location || p.Labels["bins"] != w.bins ||
			!strings.HasPrefix(p.Labels["source"], w.source) {
			t.Errorf("%s: %+v", p.Title(), p)
		}
	}
	if i := slices.IndexFunc(res.Software, func(p model.Package) bool { return p.Name == "acme-hello" }); i < 0 || res.Software[i].Copies != 1 {
		t.Error("acme-hello of /usr/local/cargo is not counted as a copy")
	}
	accepted(t, res.Software)
}

// accepted fails t unless the collector accepts pkgs as they are.
func accepted(t *testing.T, pkgs []model.Package) {
	t.Helper()
	st := protocol.State{Host: model.Host{ID: "h"}, Software: slices.Clone(pkgs)}
	protocol.CleanState(&st)
	protocol.Normalize(&st)
	if len(st.Software) != len(pkgs) {
		t.Errorf("%d packages, %d once normalized: two share a key", len(pkgs), len(st.Software))
	}
	r := protocol.Report{HostID: "h", Seq: 1, Kind: protocol.KindFull, Hash: protocol.Hash(&st), State: &st}
	if err := protocol.Validate(&r); err != nil {
		t.Errorf("the collector would refuse these packages: %v", err)
	}
}

func TestNotPresent(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "etc/passwd"), "alice:x:1000:1000::/home/alice:/bin/sh\n")
	if err := os.MkdirAll(filepath.Join(root, "home/alice/.cargo/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := New(hostfs.Root(root)).Collect(context.Background()); !errors.Is(err, source.ErrNotPresent) {
		t.Errorf("err = %v", err)
	}
}

func TestWatchPaths(t *testing.T) {
	ps := New("testdata/root").WatchPaths()
	for _, p := range []string{"/usr/local/cargo", "/home/alice/.cargo", "/root/.cargo"} {
		if !slices.Contains(ps, hostfs.Root("testdata/root").Path(p)) {
			t.Errorf("%s not watched: %v", p, ps)
		}
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestHostile: a listing linked out of the root, a link loop, a FIFO, an unreadable and a
// sparse 100 MiB listing, malformed entries and a binary named with a path are skipped and
// counted, never followed, read whole or waited on.
func TestHostile(t *testing.T) {
	root := t.TempDir()
	var passwd strings.Builder
	for i, u := range []string{"out", "loop", "fifo", "big", "bad", "toml", "locked"} {
		passwd.WriteString(u + ":x:" + string(rune('1'+i)) + "000:1000::/home/" + u + ":/bin/sh\n")
	}
	writeFile(t, filepath.Join(root, "etc/passwd"), passwd.String())
	home := func(u string) string { return filepath.Join(root, "home", u, ".cargo") }
	outside := filepath.Join(t.TempDir(), crates2)
	writeFile(t, outside, `{"installs":{"secret 1.0.0 (path+file:///x)":{"bins":["s"]}}}`)
	for link, target := range map[string]string{filepath.Join(home("out"), crates2): outside,
		filepath.Join(home("loop"), crates2): filepath.Join(home("loop"), crates2)} {
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(home("fifo"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(home("fifo"), crates2), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(home("big"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(createFile(t, filepath.Join(home("big"), crates2)), 100<<20); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(home("bad"), crates2), `{"installs":{"ok 1.0.0 (path+file:///ok)":{"bins":["ok"]},`+
		`"esc 1.0.0 (path+file:///x)":{"bins":["../../etc/passwd"]},"noversion (x)":{"bins":[]},`+
		`"bad/name 1.0.0 (x)":{"bins":[]},"typed 1.0.0 (x)":{"bins":[1]}}}`)
	writeFile(t, filepath.Join(home("toml"), cratesTOML), "[v1]\n\"t 0.1.0 (path+file:///t)\" = [\n    \"t\",\n]\n"+
		"\"u 0.1.0 (path+file:///u)\" = 3\nnot an entry\n[v2]\n\"v 0.1.0 (x)\" = [\"v\"]\n")
	writeFile(t, filepath.Join(home("locked"), crates2), `{"installs":{"locked 1.0.0 (path+file:///l)":{"bins":["l"]}}}`)
	if err := os.Chmod(filepath.Join(home("locked"), crates2), 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := New(hostfs.Root(root)).Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range res.Software {
		got = append(got, p.Name)
	}
	want, wantSkipped := []string{"ok", "t"}, 10 // out, loop, fifo, big, 4 in bad, 2 in toml
	if os.Geteuid() == 0 {
		want = []string{"locked", "ok", "t"} // root reads a mode 0 file
	} else {
		wantSkipped++
	}
	if !slices.Equal(got, want) || res.Skipped != wantSkipped {
		t.Errorf("got %q, %d skipped; want %q, %d", got, res.Skipped, want, wantSkipped)
	}
}

func createFile(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

func TestParsePackageID(t *testing.T) {
	for _, tt := range []struct {
		id                    string
		name, version, source string
	}{
		{"ripgrep 14.1.0 (registry+https://github.com/rust-lang/crates.io-index)", "ripgrep", "14.1.0", "registry+https://github.com/rust-lang/crates.io-index"},
		{"cargo-edit 0.12.2 (sparse+https://index.crates.io/)", "cargo-edit", "0.12.2", "sparse+https://index.crates.io/"},
		{"tool 0.1.0-alpha.1+build.5 (git+https://github.com/acme/tool?branch=main#0123abcd)", "tool", "0.1.0-alpha.1+build.5", "git+https://github.com/acme/tool?branch=main#0123abcd"},
		{"ripgrep 14.1.0", "", "", ""},
		{"ripgrep v14 (x)", "", "", ""},
		{"rip grep 1.0 (x)", "", "", ""},
		{"a 1.0 ()", "", "", ""},
	} {
		in, ok := ParsePackageID(tt.id)
		if ok != (tt.name != "") || in.Name != tt.name || in.Version != tt.version || in.Source != tt.source {
			t.Errorf("%q: %+v %v", tt.id, in, ok)
		}
	}
}

func TestParseCratesTOML(t *testing.T) {
	in, skipped := ParseCratesTOML([]byte("[v1]\n\"a 1.0.0 (x)\" = [\"a\", \"a\\u00e9\"]\n\"b 2.0.0 (y)\" = [\n    \"b\",\n    \"c\",\n]\n\"c 1.0.0 (z)\" = [\"unterminated]\n"))
	if skipped != 1 || len(in) != 2 || !slices.Equal(in[0].Bins, []string{"a", "aé"}) || !slices.Equal(in[1].Bins, []string{"b", "c"}) {
		t.Errorf("%+v, %d skipped", in, skipped)
	}
}

func FuzzParseCrates2(f *testing.F) {
	for _, p := range []string{"testdata/root/home/alice/.cargo/.crates2.json", "testdata/root/usr/local/cargo/.crates2.json"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"installs":{"a 1 (x)":{"bins":["../a"]}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, skipped, err := ParseCrates2(b)
		if err != nil && (len(in) > 0 || skipped > 0) {
			t.Fatalf("error %v with %d installs", err, len(in))
		}
		checkInstalls(t, in)
	})
}

func FuzzParseCratesTOML(f *testing.F) {
	for _, p := range []string{"testdata/root/home/alice/.cargo/.crates.toml", "testdata/root/home/bob/.cargo/.crates.toml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("[v1]\n\"a 1 (x)\" = [\n\"\\U0001F600\",\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, skipped := ParseCratesTOML(b)
		if len(in)+skipped > len(b) {
			t.Fatalf("%d+%d entries from %d bytes", len(in), skipped, len(b))
		}
		checkInstalls(t, in)
	})
}

func checkInstalls(t *testing.T, in []Install) {
	t.Helper()
	for _, i := range in {
		if !validCrateName(i.Name) || !validVersion(i.Version) || !validBins(i.Bins) || i.Source == "" {
			t.Fatalf("invalid install %+v", i)
		}
	}
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
