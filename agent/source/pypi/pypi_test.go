//go:build unix

package pypi

import (
	"context"
	"errors"
	"fmt"
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

// collect reads root and zeroes what a checkout does not keep, once checked against the
// files: the install times (the metadata directories' modification times) and who installed
// it (their owner, the user of the checkout).
func collect(t *testing.T, root string) source.Result {
	t.Helper()
	res, err := New(hostfs.Root(root)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range res.Software {
		fi, err := os.Lstat(filepath.Join(root, p.Location))
		if err != nil || !p.InstallTime.Equal(fi.ModTime()) {
			t.Errorf("%s: install time %v, file %v", p.Location, p.InstallTime, err)
		}
		if uid, ok := owner(fi); ok && p.InstalledBy != (&reader{users: New(hostfs.Root(root)).users()}).userName(uid) {
			t.Errorf("%s: installed by %q, owner %d", p.Location, p.InstalledBy, uid)
		}
		res.Software[i].InstallTime, res.Software[i].InstalledBy = time.Time{}, ""
	}
	return res
}

func TestCollect(t *testing.T) {
	res := collect(t, "testdata/root")
	golden.AssertJSON(t, "testdata/root.golden.json", res)
	if res.Skipped != 0 {
		t.Errorf("%d skipped", res.Skipped)
	}
	type want struct {
		version, user, env, requested, evidence, installer string
		copies                                             int
	}
	wants := map[string]want{
		// alice's --user copy first; /usr/local's, pyenv's, pipx's and uv's are its copies.
		"pypi:acme-core": {"1.2.0", "alice", KindUser, "explicit", "pip-installer", "pip", 4},
		// Installed by hand into Debian's directory: no package lists it.
		"pypi:acme-stray": {"0.1", "", KindSystem, "explicit", "pip-installer", "pip", 0},
		// pipx's venv, and /usr/local's copy.
		"pypi:acme-tool-cli": {"2.0.0rc1", "alice", KindPipx, "explicit", "pip-installer", "pip", 1},
		"pypi:legacy-thing":  {"0.9", "", KindSystem, "", "file-owner", "", 0},
		"pypi:old-distutils": {"1.0", "bob", KindUser, "", "file-owner", "", 0},
	}
	if len(res.Software) != len(wants) {
		t.Errorf("%d distributions, want %d", len(res.Software), len(wants))
	}
	for _, p := range res.Software {
		w, ok := wants[p.Title()]
		if !ok {
			t.Errorf("unexpected %s", p.Title()) // python3-six is dpkg's
			continue
		}
		if p.Version != w.version || p.User != w.user || p.Labels["environment"] != w.env || p.Requested != w.requested ||
			p.Evidence != w.evidence || p.Labels["installer"] != w.installer || p.Copies != w.copies || p.Summary == "" {
			t.Errorf("%s: %+v", p.Title(), p)
		}
	}
	accepted(t, res.Software)
}

// TestRequested: in /usr/local, acme-core came as Acme.Tool_CLI's dependency (no
// REQUESTED); the uv tool's main distribution is requested, and uv installed it.
func TestRequested(t *testing.T) {
	r := reader{src: New("testdata/root")}
	for _, d := range r.src.siteDirs(context.Background()) {
		r.readSite(context.Background(), d)
	}
	got := map[string]string{}
	for _, p := range r.pkgs {
		got[p.Location] = p.Name + " " + p.Requested + " " + p.Labels["installer"]
	}
	for loc, want := range map[string]string{
		"/usr/local/lib/python3.11/dist-packages/acme_core-1.2.0.dist-info":                                "acme-core dependency pip",
		"/usr/local/lib/python3.11/dist-packages/Acme.Tool_CLI-2.0.0rc1.dist-info":                         "acme-tool-cli explicit pip",
		"/home/bob/.local/share/uv/tools/acme-core/lib/python3.11/site-packages/acme_core-1.2.0.dist-info": "acme-core explicit uv",
	} {
		if got[loc] != want {
			t.Errorf("%s: %q, want %q", loc, got[loc], want)
		}
	}
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

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func names(pkgs []model.Package) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.Name)
	}
	return out
}

// TestOwned: Debian's directory holds a dpkg package's egg-info, which is not read, and one
// no package lists, which is; once dpkg forgets the package, its egg-info is read. On an rpm
// host the distribution's directories are not read at all; /usr/local always is.
func TestOwned(t *testing.T) {
	root := t.TempDir()
	dist := filepath.Join(root, "usr/lib/python3/dist-packages")
	writeFile(t, filepath.Join(dist, "six-1.16.0.egg-info/PKG-INFO"), "Name: six\nVersion: 1.16.0\n")
	writeFile(t, filepath.Join(dist, "mine-1.0.dist-info/METADATA"), "Name: mine\nVersion: 1.0\n")
	writeFile(t, filepath.Join(root, "usr/lib/python3.12/site-packages/apkd-2.0.dist-info/METADATA"), "Name: apkd\nVersion: 2.0\n")
	writeFile(t, filepath.Join(root, "usr/local/lib/python3.11/dist-packages/local-3.0.dist-info/METADATA"), "Name: local\nVersion: 3.0\n")
	list := filepath.Join(root, dpkgInfo, "python3-six.list")
	writeFile(t, list, "/.\n/usr/lib/python3/dist-packages\n/usr/lib/python3/dist-packages/six-1.16.0.egg-info\n/usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO\n")
	writeFile(t, filepath.Join(root, apkInstalled), "P:py3-apkd\nF:usr/lib/python3.12/site-packages/apkd-2.0.dist-info\nR:METADATA\n\n")
	s := New(hostfs.Root(root))
	check := func(want ...string) {
		t.Helper()
		res, err := s.Collect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := names(res.Software); !slices.Equal(got, want) || res.Skipped != 0 {
			t.Errorf("got %q, %d skipped; want %q", got, res.Skipped, want)
		}
	}
	check("local", "mine")
	check("local", "mine") // from the memo
	if err := os.Remove(list); err != nil {
		t.Fatal(err)
	}
	check("local", "mine", "six")
	writeFile(t, filepath.Join(root, "var/lib/rpm/rpmdb.sqlite"), "")
	check("local")
}

// TestOwnedKept: what the package databases list is kept in the state directory: a new
// source on it reads no file list while the databases' stamp is the same (a list rewritten
// in place, which dpkg never does, shows it), and reads them again once it changed.
func TestOwnedKept(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	dist := filepath.Join(root, "usr/lib/python3/dist-packages")
	writeFile(t, filepath.Join(dist, "six-1.16.0.egg-info/PKG-INFO"), "Name: six\nVersion: 1.16.0\n")
	writeFile(t, filepath.Join(root, "var/lib/dpkg/status"), "Package: python3-six\n\n")
	list := filepath.Join(root, dpkgInfo, "python3-six.list")
	writeFile(t, list, "/usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO\n")
	check := func(s *Source, want ...string) {
		t.Helper()
		res, err := s.Collect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := names(res.Software); !slices.Equal(got, want) {
			t.Errorf("got %q; want %q", got, want)
		}
	}
	check(NewWithState(hostfs.Root(root), state))
	fi, err := os.Stat(filepath.Join(root, dpkgInfo))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, list, "/usr/share/doc/python3-six/copyright\n") // in place: no new stamp
	if err := os.Chtimes(filepath.Join(root, dpkgInfo), fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	check(NewWithState(hostfs.Root(root), state))              // the kept memo: six is still dpkg's
	check(NewWithState(hostfs.Root(root), t.TempDir()), "six") // read again: it is not
	later := time.Now().Add(time.Second)
	if err := os.Chtimes(filepath.Join(root, "var/lib/dpkg/status"), later, later); err != nil {
		t.Fatal(err)
	}
	check(NewWithState(hostfs.Root(root), state), "six") // a new stamp: read again
}

func TestMetadataPath(t *testing.T) {
	for p, want := range map[string]string{
		"/usr/lib/python3/dist-packages/six-1.16.0.egg-info":              "/usr/lib/python3/dist-packages/six-1.16.0.egg-info",
		"/usr/lib/python3/dist-packages/a-1.dist-info/METADATA":           "/usr/lib/python3/dist-packages/a-1.dist-info",
		"/usr/lib/python3.12/site-packages/a-1.dist-info/":                "/usr/lib/python3.12/site-packages/a-1.dist-info",
		"/usr/lib/python3/dist-packages/x.dist-infox/y.egg-info/PKG-INFO": "/usr/lib/python3/dist-packages/x.dist-infox/y.egg-info",
		"/usr/lib/python3/dist-packages/six.py":                           "",
	} {
		if got, _ := metadataPath(p); got != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
}

func TestNotPresent(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "etc/passwd"), "alice:x:1000:1000::/home/alice:/bin/sh\n")
	if err := os.MkdirAll(filepath.Join(root, "home/alice/.local/lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := New(hostfs.Root(root)).Collect(context.Background()); !errors.Is(err, source.ErrNotPresent) {
		t.Errorf("err = %v", err)
	}
}

func TestWatchPaths(t *testing.T) {
	ps := New("testdata/root").WatchPaths()
	for _, p := range []string{"/usr/local/lib", "/usr/local/lib/python3.11/dist-packages",
		"/home/alice/.local/share/pipx/venvs/acme-tool-cli/lib/python3.11/site-packages"} {
		if !slices.Contains(ps, hostfs.Root("testdata/root").Path(p)) {
			t.Errorf("%s not watched: %v", p, ps)
		}
	}
}

// TestHostile: metadata with control bytes and invalid UTF-8 is cleaned; metadata without a
// name, with an invalid one, past the read budget before its name, a FIFO, an unreadable
// file, a link named like a dist-info and a link loop are skipped and counted; a
// site-packages linked out of the root is read inside it, where there is nothing.
func TestHostile(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "etc/passwd"), "eve:x:1000:1000::/home/eve:/bin/sh\nout:x:1001:1001::/home/out:/bin/sh\n")
	site := filepath.Join(root, "home/eve/.local/lib/python3.11/site-packages")
	md := func(dir, s string) { writeFile(t, filepath.Join(site, dir, "METADATA"), s) }
	md("ctl-1.0.dist-info", "Name: ctl\nVersion: 1.0\nSummary: bell\x07 and \xff\xfe bytes\x1b[31m\n")
	md("noname-1.0.dist-info", "Version: 1.0\nSummary: no name\n")
	md("badname-1.0.dist-info", "Name: bad\x00name\nVersion: 1.0\n")
	md("badversion-1.0.dist-info", "Name: badversion\nVersion: 1.0 beta\n")
	md("huge-1.0.dist-info", "Summary: "+strings.Repeat("x", 1<<20)+"\nName: huge\nVersion: 1.0\n")
	md("hugesummary-1.0.dist-info", "Name: hugesummary\nVersion: 1.0\nSummary: "+strings.Repeat("y", 1<<20)+"\n")
	md("body-1.0.dist-info", "Name: body\nVersion: 1.0\n\nName: other\n"+strings.Repeat("z", 1<<20))
	md("locked-1.0.dist-info", "Name: locked\nVersion: 1.0\n")
	if err := os.Chmod(filepath.Join(site, "locked-1.0.dist-info/METADATA"), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(site, "fifo-1.0.dist-info"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(site, "fifo-1.0.dist-info/METADATA"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "secret-1.0.dist-info/METADATA"), "Name: secret\nVersion: 1.0\n")
	for link, target := range map[string]string{
		filepath.Join(site, "loop-1.0.dist-info"):                                           "loop-1.0.dist-info",
		filepath.Join(site, "linked-1.0.dist-info"):                                         filepath.Join(outside, "secret-1.0.dist-info"),
		filepath.Join(root, "home/out/.local/lib/python3.11/site-packages"):                 outside,
		filepath.Join(root, "home/eve/.pyenv/versions/3.12.1/lib/python3.12/site-packages"): "site-packages",
	} {
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := New(hostfs.Root(root)).Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// noname, badname, badversion, huge, fifo, loop, linked.
	want, wantSkipped := []string{"body", "ctl", "hugesummary"}, 7
	if os.Geteuid() == 0 {
		want = []string{"body", "ctl", "hugesummary", "locked"} // root reads a mode 0 file
	} else {
		wantSkipped++
	}
	if got := names(res.Software); !slices.Equal(got, want) || res.Skipped != wantSkipped {
		t.Errorf("got %q, %d skipped; want %q, %d", got, res.Skipped, want, wantSkipped)
	}
	for _, p := range res.Software {
		if p.Name == "ctl" && p.Summary != protocol.CleanText("bell\x07 and \xff\xfe bytes\x1b[31m", protocol.MaxFieldLen) {
			t.Errorf("summary %q", p.Summary)
		}
		if p.Name == "hugesummary" && p.Summary != "" {
			t.Errorf("a summary cut by the read budget is kept: %d bytes", len(p.Summary))
		}
	}
	accepted(t, res.Software)
}

// TestBounded: 100,000 distributions in one site directory: MaxDists are read, the others
// counted as skipped, in bounded time.
func TestBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("makes 100,000 directories")
	}
	root := sourcetest.MemTempDir(t)
	site := filepath.Join(root, "usr/local/lib/python3.11/site-packages")
	if err := os.MkdirAll(site, 0o755); err != nil {
		t.Fatal(err)
	}
	const n = 100000
	for i := range n {
		d := filepath.Join(site, fmt.Sprintf("d%06d-1.0.dist-info", i))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if i < MaxDists+10 { // the rest are not read
			if err := os.WriteFile(d+"/METADATA", fmt.Appendf(nil, "Name: d%06d\nVersion: 1.0\n", i), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := time.Now()
	res, err := New(hostfs.Root(root)).Collect(context.Background())
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Software) != MaxDists || res.Skipped != n-MaxDists {
		t.Errorf("%d distributions, %d skipped", len(res.Software), res.Skipped)
	}
	if took > 30*time.Second {
		t.Errorf("took %v", took)
	}
	t.Logf("%d dist-info directories read in %v", n, took)
}

func TestParseMetadata(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Metadata
	}{
		{"Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nSummary: Python HTTP for Humans.\n", Metadata{"requests", "2.31.0", "Python HTTP for Humans."}},
		{"name: a\r\nVERSION: 1\r\nsummary:  spaced  \r\n", Metadata{"a", "1", "spaced"}},
		{"Name: a\nName: b\nVersion: 1\nVersion: 2\n", Metadata{"a", "1", ""}},
		{"Name: a\nSummary: one\n  two\nDescription: x\n        | Name: c\nVersion: 1\n", Metadata{"a", "1", "one two"}},
		{"Name: a\n\nVersion: 1\n", Metadata{"a", "", ""}},
		{"not a header\nName: a\nVersion:1", Metadata{"a", "1", ""}},
		{"Name: a\rVersion: 1\r\rSummary: x\n", Metadata{"a", "1", ""}},
		{"Name: a\nSummary: s\n" + strings.Repeat(" x\n", 10000), Metadata{"a", "", "s" + strings.Repeat(" x", maxSummary/2)}},
		{"", Metadata{}},
	} {
		if got := ParseMetadata([]byte(tt.in)); got != tt.want {
			t.Errorf("%q: %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"Acme.Tool_CLI": "acme-tool-cli", "friendly-bard": "friendly-bard", "Friendly-Bard": "friendly-bard",
		"FRIENDLY-BARD": "friendly-bard", "friendly.bard": "friendly-bard", "friendly_bard": "friendly-bard",
		"friendly--bard": "friendly-bard", "FrIeNdLy-._.-bArD": "friendly-bard", "zope.interface": "zope-interface",
	} {
		if got := NormalizeName(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
	for _, s := range []string{"", "-a", "a-", "a b", "a/b", "é", strings.Repeat("a", 201)} {
		if validName(s) {
			t.Errorf("%q is valid", s)
		}
	}
}

func FuzzParseMetadata(f *testing.F) {
	for _, p := range []string{
		"testdata/root/usr/local/lib/python3.11/dist-packages/Acme.Tool_CLI-2.0.0rc1.dist-info/METADATA",
		"testdata/root/usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO",
		"testdata/root/home/bob/.local/lib/python3.11/site-packages/old_distutils-1.0.egg-info",
	} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("Name: a\nSummary: x\n \n\tb\r\n\nVersion: 1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		md := ParseMetadata(b)
		for _, s := range []string{md.Name, md.Version, md.Summary} {
			if len(s) > len(b) || strings.ContainsAny(s, "\r\n") {
				t.Fatalf("%q from %d bytes", s, len(b))
			}
		}
		if validName(md.Name) {
			if n := NormalizeName(md.Name); NormalizeName(n) != n || !validName(n) {
				t.Fatalf("%q normalizes to %q", md.Name, n)
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
