//go:build unix

package gem

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

// collect reads root and returns the result with install times checked against the
// specifications' modification times and then zeroed, since a checkout does not keep them.
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
	type want struct {
		version, arch, user, kind, location string
		copies                              int
		platform                            bool
	}
	wants := map[string]want{
		"gem:acme-tool@1.2.0": {"1.2.0", "", "alice", KindUser, "/home/alice/.gem/ruby/3.1.0/specifications/acme-tool-1.2.0.gemspec", 2, false},
		"gem:acme-tool@2.0.0.rc1": {"2.0.0.rc1", "", "alice", KindUser,
			"/home/alice/.local/share/gem/ruby/3.1.0/specifications/acme-tool-2.0.0.rc1.gemspec", 0, false},
		"gem:acme-native@0.3.1": {"0.3.1", "x86_64-linux", "bob", KindRVM,
			"/home/bob/.rvm/gems/ruby-3.2.2/specifications/acme-native-0.3.1-x86_64-linux.gemspec", 1, false},
		"gem:minitest@5.15.0": {"5.15.0", "", "", KindRuby, "/usr/lib/ruby/gems/3.1.0/specifications/minitest-5.15.0.gemspec", 0, false},
		"gem:base64@0.1.1":    {"0.1.1", "", "", KindRuby, "/usr/lib/ruby/gems/3.1.0/specifications/default/base64-0.1.1.gemspec", 0, true},
	}
	if len(res.Software) != len(wants) {
		t.Errorf("%d gems, want %d (dpkg's rack left out)", len(res.Software), len(wants))
	}
	for _, p := range res.Software {
		if p.Name == "rack" {
			t.Errorf("dpkg's rack reported: %+v", p)
		}
		w, ok := wants[p.Title()+"@"+p.Version]
		if !ok {
			t.Errorf("unexpected %s %s", p.Title(), p.Version)
			continue
		}
		if p.Arch != w.arch || p.User != w.user || p.Labels["gem_dir_kind"] != w.kind || p.Location != w.location ||
			p.Copies != w.copies || p.Platform != w.platform || (p.Labels["default"] == "true") != w.platform {
			t.Errorf("%s: %+v", p.Title(), p)
		}
		if p.Name == "acme-tool" && (p.License != "MIT, Apache-2.0" || p.Summary != `A tool of Acme's, "quoted" and café` ||
			p.Maintainer != "Acme Ops, Jane Doe" || p.Labels["homepage"] != "https://example.com/acme-tool") {
			t.Errorf("acme-tool's description: %+v", p)
		}
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
	// dpkg's gem directories alone are no gems of this source.
	if err := os.MkdirAll(filepath.Join(root, "usr/share/rubygems-integration/all/specifications"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := New(hostfs.Root(root)).Collect(context.Background()); !errors.Is(err, source.ErrNotPresent) {
		t.Errorf("err = %v", err)
	}
}

func TestWatchPaths(t *testing.T) {
	ps := New("testdata/root").WatchPaths()
	for _, p := range []string{"/var/lib/gems", "/var/lib/gems/3.1.0/specifications", "/home/alice/.gem/ruby/3.1.0/specifications"} {
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

// TestHostile: a symlink loop and links out of the tree, an unreadable specification, a
// 100 MiB one (sparse), a FIFO named like one, and specifications that name no valid gem are
// skipped and counted, never followed, read whole or waited on.
func TestHostile(t *testing.T) {
	root := t.TempDir()
	specs := filepath.Join(root, "var/lib/gems/3.1.0/specifications")
	writeFile(t, filepath.Join(specs, "ok-1.0.gemspec"), "s.name = \"ok\".freeze\ns.version = \"1.0\"\n")
	writeFile(t, filepath.Join(specs, "fallback-2.1-java.gemspec"), "garbage\x00\xff\n")
	writeFile(t, filepath.Join(specs, "bad-name-1.0.gemspec"), "s.name = \"../../etc\".freeze\n")
	writeFile(t, filepath.Join(specs, "noversion.gemspec"), "s.name = \"x\"\n")
	writeFile(t, filepath.Join(specs, "locked-1.0.gemspec"), "s.name = \"locked\"\n")
	if err := os.Chmod(filepath.Join(specs, "locked-1.0.gemspec"), 0); err != nil {
		t.Fatal(err)
	}
	big, err := os.Create(filepath.Join(specs, "big-1.0.gemspec"))
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Truncate(100 << 20); err != nil {
		t.Fatal(err)
	}
	big.Close()
	outside := filepath.Join(t.TempDir(), "secret-1.0.gemspec")
	writeFile(t, outside, "s.name = \"secret\"\ns.version = \"1.0\"\n")
	for link, target := range map[string]string{
		filepath.Join(specs, "secret-1.0.gemspec"):                          outside,
		filepath.Join(specs, "loop-1.0.gemspec"):                            filepath.Join(specs, "loop-1.0.gemspec"),
		filepath.Join(root, "var/lib/gems/loop"):                            filepath.Join(root, "var/lib/gems"),
		filepath.Join(root, "home/alice/.gem/ruby/3.1.0"):                   filepath.Dir(filepath.Dir(outside)),
		filepath.Join(root, "home/bob/.rvm/gems/ruby-3.3.0"):                "/",
		filepath.Join(root, "usr/local/lib/ruby/gems/3.1.0/specifications"): "../../../../../../..",
	} {
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	if err := mkfifo(filepath.Join(specs, "fifo-1.0.gemspec")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "etc/passwd"), "alice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := New(hostfs.Root(root)).Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range res.Software {
		got = append(got, p.Name+" "+p.Version+" "+p.Arch)
	}
	want := []string{"fallback 2.1 java", "ok 1.0 "}
	if os.Geteuid() == 0 {
		want = []string{"fallback 2.1 java", "locked 1.0 ", "ok 1.0 "} // root reads a mode 0 file
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// bad-name, noversion, big, the two links and the FIFO; locked too when not root.
	wantSkipped := 6 + 3 - len(want)
	if res.Skipped != wantSkipped {
		t.Errorf("%d skipped, want %d", res.Skipped, wantSkipped)
	}
}

func TestParseSpec(t *testing.T) {
	sp := ParseSpec([]byte("# stub: stubbed 9.9 java lib\n" +
		"  s.name = \"rails\".freeze\n  s.version = \"7.1.3.4\"\n" +
		"  s.summary = \"Tab\\there \\\"q\\\" \\u00E9\\u{1F600} \\#{x} \\x41\\101\".freeze\n" +
		"  s.licenses = [\"MIT\".freeze, \"Ruby\".freeze]\n  s.licenses = [\"GPL\"]\n" +
		"  s.homepage = \"https://rubyonrails.org\".freeze if s.respond_to? :homepage=\n" +
		"  s.authors = [\"David\".freeze, 3]\n  s.name = \"other\"\n"))
	want := Spec{Name: "rails", Version: "7.1.3.4", Platform: "java", Summary: "Tab\there \"q\" é😀 #{x} AA",
		Homepage: "https://rubyonrails.org", Licenses: []string{"MIT", "Ruby"}, Authors: []string{"David"}}
	if sp.Name != want.Name || sp.Version != want.Version || sp.Platform != want.Platform || sp.Summary != want.Summary ||
		sp.Homepage != want.Homepage || !slices.Equal(sp.Licenses, want.Licenses) || !slices.Equal(sp.Authors, want.Authors) {
		t.Errorf("got %+v\nwant %+v", sp, want)
	}
	if sp := ParseSpec([]byte("s.name = \"unterminated\n s.version = 1.0\n s.summary = \"a\" + x\n")); sp.Name != "" || sp.Version != "" || sp.Summary != "" {
		t.Errorf("%+v", sp)
	}
}

func TestSplitFullName(t *testing.T) {
	for _, tt := range []struct{ full, name, version, platform string }{
		{"rails-7.1.3.4", "rails", "7.1.3.4", ""},
		{"net-http-0.4.1", "net-http", "0.4.1", ""},
		{"nokogiri-1.16.6-x86_64-linux", "nokogiri", "1.16.6", "x86_64-linux"},
		{"rails-7.1.0.rc1", "rails", "7.1.0.rc1", ""},
		{"noversion", "", "", ""},
		{"-1.0", "", "", ""},
	} {
		n, v, p, ok := SplitFullName(tt.full)
		if n != tt.name || v != tt.version || p != tt.platform || ok != (tt.name != "") {
			t.Errorf("%s: %q %q %q %v", tt.full, n, v, p, ok)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/root/*/*/*/*/*/specifications/*.gemspec")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("s.name = \"a\\u{110000}\\x\"\ns.licenses = [\"a\", \"b\\\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sp := ParseSpec(b)
		if len(sp.Licenses) > maxListItems || len(sp.Authors) > maxListItems {
			t.Fatalf("%d licenses, %d authors", len(sp.Licenses), len(sp.Authors))
		}
		for _, s := range []string{sp.Name, sp.Version, sp.Platform, sp.Summary, sp.Homepage} {
			if len(s) > len(b) {
				t.Fatalf("%q longer than the input", s)
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

func mkfifo(p string) error { return syscall.Mkfifo(p, 0o644) }

// TestDistributionRuby: on a host with a package database, Ruby's own gem directory is the
// distribution's package's, not read; the gems `gem install` added elsewhere still are.
func TestDistributionRuby(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("testdata/root")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "var/lib/dpkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := New(hostfs.Root(root)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	all, err := New(hostfs.Root("testdata/root")).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range all.Software {
		if !strings.HasPrefix(p.Location, "/usr/lib/ruby/") {
			want = append(want, p.Name+" "+p.Version)
		}
	}
	var got []string
	for _, p := range res.Software {
		got = append(got, p.Name+" "+p.Version)
	}
	if !slices.Equal(got, want) || len(want) == len(all.Software) {
		t.Errorf("with dpkg's database: %q, want %q (of %d)", got, want, len(all.Software))
	}
}
