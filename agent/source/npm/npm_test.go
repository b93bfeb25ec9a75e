//go:build unix

package npm

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

// collect reads root and zeroes the install times, which a checkout does not keep, once
// checked against the package directories' (or links') modification times.
func collect(t *testing.T, root string) source.Result {
	t.Helper()
	return sourcetest.CollectStamped(t, New(hostfs.Root(root)), root, os.Lstat)
}

func TestCollect(t *testing.T) {
	res := collect(t, "testdata/root")
	golden.AssertJSON(t, "testdata/root.golden.json", res)
	if res.Skipped != 0 {
		t.Errorf("%d skipped", res.Skipped)
	}
	type want struct{ version, user, location, node, bins, link string }
	nvm := "/home/alice/.nvm/versions/node/v20.20.2/lib/node_modules/"
	wants := map[string]want{
		"npm:@isaacs/string-locale-compare 1.1.0": {"1.1.0", "", "/usr/local/lib/node_modules/@isaacs/string-locale-compare", "", "", ""},
		"npm:is-number 7.0.0":                     {"7.0.0", "alice", nvm + "is-number", "v20.20.2", "", ""},
		"npm:is-number 6.0.0":                     {"6.0.0", "bob", "/home/bob/.npm-packages/lib/node_modules/is-number", "", "", ""},
		"npm:mkdirp 1.0.4":                        {"1.0.4", "alice", nvm + "mkdirp", "v20.20.2", "mkdirp", ""},
		"npm:acme-cli 0.1.0-dev.3":                {"0.1.0-dev.3", "alice", nvm + "acme-cli", "v20.20.2", "acme,acme-admin", "/home/alice/src/acme-cli"},
	}
	if len(res.Software) != len(wants) {
		t.Errorf("%d packages, want %d", len(res.Software), len(wants))
	}
	for _, p := range res.Software {
		w, ok := wants[p.Title()+" "+p.Version]
		if !ok {
			t.Errorf("unexpected %s %s", p.Title(), p.Version)
			continue
		}
		if p.User != w.user || p.Location != w.location || p.Labels["node_version"] != w.node || p.Labels["bins"] != w.bins ||
			p.Labels["link"] != w.link || p.Requested != model.RequestedExplicit {
			t.Errorf("%s: %+v", p.Title(), p)
		}
	}
	// is-number 7.0.0 of /usr/local is a copy of alice's; the location is the first in path order.
	if i := slices.IndexFunc(res.Software, func(p model.Package) bool { return p.Name == "is-number" && p.Version == "7.0.0" }); i < 0 || res.Software[i].Copies != 1 {
		t.Error("is-number of /usr/local is not counted as a copy")
	}
	if i := slices.IndexFunc(res.Software, func(p model.Package) bool { return p.Name == "acme-cli" }); i < 0 ||
		res.Software[i].Summary != "Acme's command line, under development" || res.Software[i].License != "Apache-2.0" ||
		res.Software[i].Labels["repository"] != "git+https://git.example.com/acme/cli.git" {
		t.Errorf("acme-cli: %+v", res.Software[i])
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
	writeFile(t, filepath.Join(root, "usr/share/nodejs/is-number/package.json"), `{"name":"is-number","version":"7.0.0"}`)
	mkdir(t, filepath.Join(root, "home/alice/.nvm/versions/node/v20.0.0/lib"))
	if _, err := New(hostfs.Root(root)).Collect(context.Background()); !errors.Is(err, source.ErrNotPresent) {
		t.Errorf("err = %v", err)
	}
}

func TestWatchPaths(t *testing.T) {
	ps := New("testdata/root").WatchPaths()
	for _, p := range []string{"/usr/local/lib/node_modules", "/usr/lib/node_modules",
		"/home/alice/.nvm/versions/node/v20.20.2/lib/node_modules", "/home/bob/.npm-packages/lib/node_modules"} {
		if !slices.Contains(ps, hostfs.Root("testdata/root").Path(p)) {
			t.Errorf("%s not watched: %v", p, ps)
		}
	}
}

// TestPrefixes: every kind of prefix is read once, a prefix an npmrc sets included, and
// Debian's module directories are not, whatever an npmrc says.
func TestPrefixes(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\ncarol:x:1000:1000::/home/carol:/bin/sh\n"+
		"dave:x:1001:1001::/home/dave:/bin/sh\n")
	writeFile(t, filepath.Join(root, "etc/npmrc"), "prefix=/srv/node\n")
	writeFile(t, filepath.Join(root, "usr/etc/npmrc"), "prefix=/usr/lib/x86_64-linux-gnu/nodejs\n") // Debian's: not read
	writeFile(t, filepath.Join(root, "usr/local/etc/npmrc"), "prefix=~/.npm\n")                     // whose home? not read
	writeFile(t, filepath.Join(root, "home/carol/.npmrc"), "prefix=\"${HOME}/.npm-global\"\n")      // a prefix read anyway: once
	writeFile(t, filepath.Join(root, "home/dave/.npmrc"), "prefix=/usr/local\n")                    // the system's: once, no user
	pkgs := map[string]string{
		"opt/node-v22.1.0-linux-x64":      "a",
		"srv/node":                        "b",
		"usr/lib/x86_64-linux-gnu/nodejs": "debian",
		"usr/local":                       "c",
		"root/.local":                     "d",
		"home/carol/.npm-global":          "e",
		"home/carol/.local/share/fnm/node-versions/v22.1.0/installation": "f",
		"home/carol/.fnm/node-versions/v18.0.0/installation":             "g",
		"home/carol/.volta/tools/image/packages/h":                       "h",
		"home/carol/.volta/tools/image/packages/@acme/i":                 "@acme/i",
		"usr/local/nvm/versions/node/v21.0.0":                            "j",
	}
	for p, name := range pkgs {
		writeFile(t, filepath.Join(root, p, modules, name, "package.json"), `{"name":"`+name+`","version":"1.0.0","bin":"x"}`)
	}
	res, err := New(hostfs.Root(root)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range res.Software {
		got[p.Name] = p.User + " " + p.Labels["node_version"] + " " + p.Labels["bins"] + " " + fmt.Sprint(p.Copies)
	}
	want := map[string]string{"a": "  a 0", "b": "  b 0", "c": "  c 0", "d": "root  d 0", "e": "carol  e 0",
		"f": "carol v22.1.0 f 0", "g": "carol v18.0.0 g 0", "h": "carol  h 0", "@acme/i": "carol  i 0", "j": " v21.0.0 j 0"}
	if fmt.Sprint(got) != fmt.Sprint(want) || res.Skipped != 0 {
		t.Errorf("got %v, %d skipped; want %v", got, res.Skipped, want)
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	mkdir(t, filepath.Dir(p))
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	mkdir(t, filepath.Dir(link))
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestHostile: package.json files that are not JSON, name no valid package, hold control
// bytes or invalid UTF-8, are huge, FIFOs, links or unreadable, and package links that loop
// or lead out of the root are skipped and counted, never followed out of the root, read
// whole or waited on; what a package's text holds is cleaned.
func TestHostile(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "etc/passwd"), "")
	nm := filepath.Join(root, "usr/local", modules)
	manifest := func(dir, s string) { writeFile(t, filepath.Join(nm, dir, "package.json"), s) }
	manifest("ok", `{"name":"ok","version":"1.0.0","description":"bell\u0007 and \ufffd","bin":{"../x":"a","ok":"b","a,b":"c"}}`)
	manifest("ctl", "{\"name\":\"ctl\",\"version\":\"1.0.0\",\"description\":\"raw \x01 control\"}")
	manifest("badutf", "{\"name\":\"badutf\",\"version\":\"1.0.0\",\"description\":\"\xff\xfe ok\",\"license\":\"MIT\xc3\"}")
	manifest("badname", "{\"name\":\"bad\xffname\",\"version\":\"1.0.0\"}")
	manifest("noname", `{"version":"1.0.0"}`)
	manifest("noversion", `{"name":"noversion"}`)
	manifest("typed", `{"name":"typed","version":1}`)
	manifest("notjson", `name=notjson`)
	manifest("array", `[{"name":"array","version":"1.0.0"}]`)
	manifest("spaced", `{"name":"spaced","version":"1.0.0 beta"}`)
	manifest("alias", `{"name":"is-number","version":"7.0.0","license":{"type":"MIT"}}`)
	mkdir(t, filepath.Join(nm, "nomanifest"))
	writeFile(t, filepath.Join(nm, "stray-file"), "not a package")
	writeFile(t, filepath.Join(nm, ".package-lock.json"), "{}")
	mkdir(t, filepath.Join(nm, "big"))
	f, err := os.Create(filepath.Join(nm, "big/package.json"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Truncate(filepath.Join(nm, "big/package.json"), 100<<20); err != nil {
		t.Fatal(err)
	}
	mkdir(t, filepath.Join(nm, "fifo"))
	if err := syscall.Mkfifo(filepath.Join(nm, "fifo/package.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "secret/package.json"), `{"name":"secret","version":"1.0.0"}`)
	symlink(t, filepath.Join(outside, "secret/package.json"), filepath.Join(nm, "manifestlink/package.json"))
	symlink(t, filepath.Join(outside, "secret"), filepath.Join(nm, "out-abs"))
	symlink(t, strings.Repeat("../", 20)+strings.TrimPrefix(outside, "/")+"/secret", filepath.Join(nm, "out-rel"))
	symlink(t, "loop", filepath.Join(nm, "loop"))
	symlink(t, "/home/alice/src/linked", filepath.Join(nm, "linked")) // absolute: inside the root
	writeFile(t, filepath.Join(root, "home/alice/src/linked/package.json"), `{"name":"linked","version":"2.0.0"}`)
	symlink(t, "linked/package.json", filepath.Join(nm, "tofile"))
	manifest("locked", `{"name":"locked","version":"1.0.0"}`)
	if err := os.Chmod(filepath.Join(nm, "locked/package.json"), 0); err != nil {
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
		got = append(got, p.Name+"@"+p.Version+" "+p.Summary+" "+p.License+" "+p.Labels["bins"]+" "+p.Labels["link"]+" "+p.Labels["installed_as"])
	}
	want := []string{
		"badutf@1.0.0 \ufffd\ufffd ok MIT\ufffd   ",
		"is-number@7.0.0  MIT   alias",
		"linked@2.0.0    /home/alice/src/linked ",
		"ok@1.0.0 bell\\x07 and \ufffd  ok  ",
	}
	// ctl, badname, noname, noversion, typed, notjson, array, spaced, nomanifest, big, fifo,
	// manifestlink, out-abs, out-rel, loop, tofile
	wantSkipped := 16
	if os.Geteuid() == 0 {
		want = slices.Insert(want, 3, "locked@1.0.0     ") // root reads a mode 0 file
	} else {
		wantSkipped++
	}
	if !slices.Equal(got, want) || res.Skipped != wantSkipped {
		t.Errorf("got %q, %d skipped; want %q, %d", got, res.Skipped, want, wantSkipped)
	}
	accepted(t, res.Software)
}

// TestBounded: a node_modules directory of 100,000 entries is read in batches, and at most
// MaxPackages of them.
func TestBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("makes 100,000 directories")
	}
	root := sourcetest.MemTempDir(t)
	writeFile(t, filepath.Join(root, "etc/passwd"), "")
	nm := filepath.Join(root, "usr/local", modules)
	mkdir(t, nm)
	for i := range 100000 {
		if err := os.Mkdir(filepath.Join(nm, fmt.Sprintf("p%06d", i)), 0o755); errors.Is(err, syscall.ENOSPC) {
			t.Skipf("%d directories: %v", i, err)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(root, "usr", modules, "last/package.json"), `{"name":"last","version":"1.0.0"}`)
	start := time.Now()
	res, err := New(hostfs.Root(root)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// /usr/lib's package comes first; then MaxPackages-1 directories without a package.json
	// and one skipped for the rest of the directory.
	if len(res.Software) != 1 || res.Skipped != MaxPackages {
		t.Errorf("%d packages, %d skipped in %v", len(res.Software), res.Skipped, time.Since(start))
	}
}

func TestParseManifest(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Manifest
		ok   bool
	}{
		{`{"name":"a","version":"1.0.0","description":" two\n lines ","license":"MIT","bin":"cli.js","repository":"acme/a"}`,
			Manifest{Name: "a", Version: "1.0.0", Description: "two lines", License: "MIT", Bins: []string{"a"}, Repository: "acme/a"}, true},
		{"\ufeff" + `{"name":"@s/b","version":"2.0.0-rc.1","bin":"x","licenses":[{"type":"MIT"},"Apache-2.0",{"type":"MIT"}]}`,
			Manifest{Name: "@s/b", Version: "2.0.0-rc.1", License: "MIT, Apache-2.0", Bins: []string{"b"}}, true},
		{`{"name":"c","version":"1","bin":{"z":"z","a":"a","":"x","a/b":"y"},"repository":{"url":"https://x/c.git"},"description":5,"license":7}`,
			Manifest{Name: "c", Version: "1", Bins: []string{"a", "z"}, Repository: "https://x/c.git"}, true},
		{`{"name":"d","version":"1","repository":"has space"}`, Manifest{Name: "d", Version: "1"}, true},
		{`{"name":"D_(old)!","version":"1"}`, Manifest{Name: "D_(old)!", Version: "1"}, true},
		{`{"name":".hidden","version":"1"}`, Manifest{}, false},
		{`{"name":"_under","version":"1"}`, Manifest{}, false},
		{`{"name":"@/x","version":"1"}`, Manifest{}, false},
		{`{"name":"@s/","version":"1"}`, Manifest{}, false},
		{`{"name":"a/b","version":"1"}`, Manifest{}, false},
		{`{"name":"@s/a/b","version":"1"}`, Manifest{}, false},
		{`{"name":"` + strings.Repeat("a", 215) + `","version":"1"}`, Manifest{}, false},
		{`{"name":"a","version":""}`, Manifest{}, false},
		{`{"name":null,"version":"1"}`, Manifest{}, false},
		{`null`, Manifest{}, false},
	} {
		m, err := ParseManifest([]byte(tt.in))
		if (err == nil) != tt.ok || fmt.Sprint(m) != fmt.Sprint(tt.want) {
			t.Errorf("%s: %+v, %v; want %+v", tt.in, m, err, tt.want)
		}
	}
}

func TestParseNpmrc(t *testing.T) {
	for in, want := range map[string]string{
		"prefix=/a\n":                          "/a",
		"; comment\n  prefix = '/b'  \n":       "/b",
		"prefix=/a\nprefix=\"/c\"\nother=1\n":  "/c",
		"#prefix=/d\n[section]\nprefixes=/e\n": "",
		"prefix=~/.npm-global":                 "~/.npm-global",
	} {
		if got := ParseNpmrc([]byte(in)); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	for _, p := range []string{"testdata/root/usr/local/lib/node_modules/is-number/package.json",
		"testdata/root/usr/local/lib/node_modules/@isaacs/string-locale-compare/package.json",
		"testdata/root/home/alice/src/acme-cli/package.json", "testdata/root/usr/share/nodejs/is-number/package.json"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"name":"@a/b","version":"1","bin":"x","licenses":[{"type":"MIT"}],"repository":{"url":"u"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			if m.Name != "" {
				t.Fatalf("error %v with %+v", err, m)
			}
			return
		}
		if !ValidName(m.Name) || !validVersion(m.Version) || len(m.Bins) > maxBins || len(m.Repository) > maxRepository {
			t.Fatalf("invalid manifest %+v", m)
		}
		for _, b := range m.Bins {
			if !validBin(b) {
				t.Fatalf("invalid bin %q", b)
			}
		}
		p := model.Package{Source: sourceFormat, Name: m.Name, Version: m.Version}
		p.Summary = source.Text([]byte(m.Description), protocol.MaxFieldLen)
		p.Labels, _ = source.Labels(map[string]string{"bins": strings.Join(m.Bins, ","), "repository": m.Repository})
		accepted(t, []model.Package{p})
	})
}

func FuzzParseNpmrc(f *testing.F) {
	f.Add([]byte("prefix = \"~/.npm-global\"\n; x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if p := ParseNpmrc(b); len(p) > len(b) || strings.Contains(p, "\n") {
			t.Fatalf("%q from %q", p, b)
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
