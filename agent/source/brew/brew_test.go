//go:build unix

package brew

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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

// collect reads root with s and replaces installed_by, the owner of the checkout's
// directories, by "<owner>" once checked against the prefix directory's owner.
func collect(t *testing.T, s *Source, root string, names map[int]string) source.Result {
	t.Helper()
	res, err := s.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range res.Software {
		pre := p.Location[:strings.Index(p.Location, s.dir()+"/")]
		fi, err := os.Stat(filepath.Join(root, pre, s.dir()))
		if err != nil {
			t.Fatal(err)
		}
		uid := int(fi.Sys().(*syscall.Stat_t).Uid)
		want, ok := names[uid]
		if !ok {
			want = "uid:" + strconv.Itoa(uid)
		}
		if p.InstalledBy != want || p.Evidence != evidence {
			t.Errorf("%s: installed by %q (%s), want %q", p.Location, p.InstalledBy, p.Evidence, want)
		}
		res.Software[i].InstalledBy = "<owner>"
	}
	accepted(t, res.Software)
	return res
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

func titles(pkgs []model.Package) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.Title()+"@"+p.Version+"/"+p.Arch)
	}
	return out
}

func TestCollectLinux(t *testing.T) {
	res := collect(t, New("testdata/root"), "testdata/root", map[int]string{0: "root", 1000: "alice", 1001: "linuxbrew"})
	golden.AssertJSON(t, "testdata/root.golden.json", res)
	want := []string{"brew:gh@2.55.0/x86_64", "brew:jq@1.7.1/x86_64", "brew:oniguruma@6.9.9/x86_64"}
	if got := titles(res.Software); !slices.Equal(got, want) || res.Skipped != 0 {
		t.Errorf("got %q, %d skipped; want %q", got, res.Skipped, want)
	}
	for _, p := range res.Software {
		switch p.Name {
		case "gh":
			if p.User != "alice" || p.Requested != "explicit" || !p.InstallTime.Equal(time.Unix(1725350000, 0)) {
				t.Errorf("gh: %+v", p)
			}
		case "jq": // alice's is a copy of the shared prefix's, the first in path order
			if p.Copies != 1 || p.Location != "/home/alice/.linuxbrew/Cellar/jq/1.7.1" {
				t.Errorf("jq: %+v", p)
			}
		case "oniguruma":
			if p.Requested != "dependency" || p.Labels["tap"] != "homebrew/core" || p.Labels["poured_from_bottle"] != "true" {
				t.Errorf("oniguruma: %+v", p)
			}
		}
	}
	if _, err := NewCasks("testdata/root").Collect(context.Background()); !errors.Is(err, source.ErrNotPresent) {
		t.Errorf("casks of a root with no Caskroom: %v", err)
	}
}

func TestCollectMacOS(t *testing.T) {
	res := collect(t, New("testdata/macos"), "testdata/macos", nil)
	golden.AssertJSON(t, "testdata/macos.golden.json", res)
	want := []string{
		"brew:hashicorp/tap/terraform@1.9.5/arm64", "brew:openssl@3@3.3.2/arm64", "brew:python@3.12@3.12.4/arm64",
		"brew:python@3.12@3.12.4_1/arm64", "brew:wget@1.24.5/arm64", "brew:wget@1.24.5/x86_64",
	}
	if got := titles(res.Software); !slices.Equal(got, want) || res.Skipped != 0 {
		t.Errorf("got %q, %d skipped; want %q", got, res.Skipped, want)
	}
	for _, p := range res.Software {
		if strings.HasPrefix(p.Name, "python") != (p.Labels["opt_link"] == "absent") {
			t.Errorf("%s: opt_link label %q", p.Name, p.Labels["opt_link"])
		}
		if p.Name == "hashicorp/tap/terraform" && (p.Labels["poured_from_bottle"] != "false" || p.Labels["tap"] != "hashicorp/tap") {
			t.Errorf("terraform: %+v", p)
		}
	}
	casks := collect(t, NewCasks("testdata/macos"), "testdata/macos", nil)
	golden.AssertJSON(t, "testdata/macos-casks.golden.json", casks)
	if got, want := titles(casks.Software), []string{"brew-cask:firefox@130.0/", "brew-cask:iterm2@3.5.4/"}; !slices.Equal(got, want) || casks.Skipped != 0 {
		t.Errorf("got %q, %d skipped; want %q", got, casks.Skipped, want)
	}
	ff, it := casks.Software[0], casks.Software[1]
	if ff.Requested != "explicit" || !ff.InstallTime.Equal(time.Unix(1725358272, 0)) || ff.Labels["app_name"] != "Mozilla Firefox" || ff.Labels["auto_updates"] != "true" {
		t.Errorf("firefox: %+v", ff)
	}
	if it.Labels["app_name"] != "iTerm2" || !it.InstallTime.Equal(time.Date(2024, 8, 15, 9, 30, 0, 120e6, time.UTC)) || it.Requested != "" {
		t.Errorf("iterm2: %+v", it)
	}
}

func TestWatchPaths(t *testing.T) {
	r := hostfs.Root("testdata/root")
	ps := New(r).WatchPaths()
	for _, p := range []string{"/opt/homebrew/Cellar", "/usr/local/opt", "/home/linuxbrew/.linuxbrew/Cellar", "/home/alice/.linuxbrew/opt"} {
		if !slices.Contains(ps, r.Path(p)) {
			t.Errorf("%s not watched: %v", p, ps)
		}
	}
	if ps := NewCasks(r).WatchPaths(); !slices.Contains(ps, r.Path("/opt/homebrew/Caskroom")) {
		t.Errorf("Caskroom not watched: %v", ps)
	}
}

func TestNotPresent(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "usr/local/bin/x"), "")
	for _, s := range []*Source{New(hostfs.Root(root)), NewCasks(hostfs.Root(root))} {
		if _, err := s.Collect(context.Background()); !errors.Is(err, source.ErrNotPresent) {
			t.Errorf("%s: err = %v", s.Name(), err)
		}
	}
}

func writeFile(t testing.TB, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestHostile: bad JSON, a receipt of the wrong types, a sparse 100 MiB receipt, a FIFO, a
// receipt linked out of the root and a link loop are counted and not read; an opt link out
// of the root or into another formula is not followed (every keg is read instead); a Cellar
// entry that is a link is passed over; a cask whose definition is bad JSON is still listed.
func TestHostile(t *testing.T) {
	root := t.TempDir()
	cellar := filepath.Join(root, "opt/homebrew/Cellar")
	rcpt := func(name, version string) string { return filepath.Join(cellar, name, version, receipt) }
	writeFile(t, rcpt("badjson", "1.0"), `{"installed_on_request": tru`)
	writeFile(t, rcpt("typed", "1.0"), `{"installed_on_request": "yes", "time": 1}`)
	writeFile(t, rcpt("big", "1.0"), "")
	if err := os.Truncate(rcpt("big", "1.0"), 100<<20); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(cellar, "fifo/1.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(rcpt("fifo", "1.0"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), receipt)
	writeFile(t, outside, `{"installed_on_request": true, "source": {"tap": "evil/tap"}}`)
	symlink(t, outside, rcpt("escape", "1.0"))
	symlink(t, rcpt("loop", "1.0"), rcpt("loop", "1.0"))
	writeFile(t, rcpt("ok", "1.0"), `{"installed_on_request": true, "time": 1700000000}`)
	writeFile(t, rcpt("ok", "2.0"), `{"installed_on_request": true}`)
	symlink(t, "/../../../../../../etc", filepath.Join(root, "opt/homebrew/opt/ok"))
	writeFile(t, rcpt("other", "1.0"), `{}`)
	symlink(t, "../Cellar/ok/1.0", filepath.Join(root, "opt/homebrew/opt/other"))
	symlink(t, t.TempDir(), filepath.Join(cellar, "linked"))
	room := filepath.Join(root, "opt/homebrew/Caskroom")
	writeFile(t, filepath.Join(room, "bad/.metadata/1.0/20240101000000.000/Casks/bad.json"), `[`)
	writeFile(t, filepath.Join(room, "bad/1.0/.keep"), "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := New(hostfs.Root(root)).Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"brew:badjson@1.0/", "brew:big@1.0/", "brew:escape@1.0/", "brew:fifo@1.0/", "brew:loop@1.0/",
		"brew:ok@1.0/", "brew:ok@2.0/", "brew:other@1.0/", "brew:typed@1.0/"}
	// badjson, typed, big, fifo, escape, loop; the two bad opt links; the linked entry.
	if got := titles(res.Software); !slices.Equal(got, want) || res.Skipped != 9 {
		t.Errorf("got %q, %d skipped; want %q, 9", got, res.Skipped, want)
	}
	for _, p := range res.Software {
		if p.Requested != "" && p.Name != "ok" || p.Labels["tap"] != "" {
			t.Errorf("%s: read %+v", p.Name, p)
		}
	}
	casks, err := NewCasks(hostfs.Root(root)).Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := titles(casks.Software); !slices.Equal(got, []string{"brew-cask:bad@1.0/"}) || casks.Skipped != 1 {
		t.Errorf("casks %q, %d skipped", got, casks.Skipped)
	}
}

// TestManyFormulae: a Cellar of 10,000 formulae yields MaxPackages packages, the others
// counted, in bounded time.
func TestManyFormulae(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,000 receipts")
	}
	root := sourcetest.MemTempDir(t)
	for i := range 10000 {
		writeFile(t, filepath.Join(root, fmt.Sprintf("opt/homebrew/Cellar/f%05d/1.0", i), receipt), `{"installed_on_request":true}`)
	}
	start := time.Now()
	res, err := New(hostfs.Root(root)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Software) != MaxPackages || res.Skipped != 10000-MaxPackages {
		t.Errorf("%d packages, %d skipped", len(res.Software), res.Skipped)
	}
	t.Logf("10,000 formulae read in %v", time.Since(start))
}

func TestParseReceipt(t *testing.T) {
	r, err := ParseReceipt([]byte(`{"installed_on_request":false,"installed_as_dependency":true,"time":null,` +
		`"tapped_from":"Homebrew/homebrew","source":{"tap":null,"versions":{"stable":"1.0"}}}`))
	if err != nil || r.Requested() != "dependency" || !r.Time.IsZero() || r.Tap != "homebrew/core" || r.Stable != "1.0" {
		t.Errorf("%+v, %v", r, err)
	}
	for _, bad := range []string{`[]`, `{"time":"now"}`, `{"source":[]}`, `{"arch":1}`} {
		if _, err := ParseReceipt([]byte(bad)); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

func TestParseCaskRB(t *testing.T) {
	c := ParseCaskRB([]byte("cask \"acme\" do\n  version :latest\n  name \"Acme #{x}\"\n  name 'Acme'\nend\n"))
	if c.Token != "acme" || c.Version != "latest" || c.Name != "Acme" {
		t.Errorf("%+v", c)
	}
}

func FuzzParseReceipt(f *testing.F) {
	for _, p := range []string{"testdata/macos/opt/homebrew/Cellar/wget/1.24.5/" + receipt,
		"testdata/macos/opt/homebrew/Caskroom/firefox/.metadata/" + receipt} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"time":1e300,"tapped_from":"path or URL"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReceipt(b)
		if err != nil {
			return
		}
		if r.Time.Year() >= 3000 || r.Tap != strings.ToLower(r.Tap) {
			t.Fatalf("%+v", r)
		}
		if q := r.Requested(); q != "" && q != "explicit" && q != "dependency" {
			t.Fatalf("requested %q", q)
		}
	})
}

func FuzzParseCask(f *testing.F) {
	for _, p := range []string{"testdata/macos/opt/homebrew/Caskroom/firefox/.metadata/130.0/20240903101112.345/Casks/firefox.json",
		"testdata/macos/opt/homebrew/Caskroom/iterm2/.metadata/3.5.4/20240815093000.120/Casks/iterm2.rb"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseCaskJSON(b)
		c := ParseCaskRB(b)
		for _, s := range []string{c.Token, c.Name, c.Version} {
			if strings.ContainsAny(s, "\"'\\\n") || len(s) > len(b) {
				t.Fatalf("%+v", c)
			}
		}
	})
}

func BenchmarkCollect(b *testing.B) {
	for _, s := range []*Source{New("testdata/macos"), NewCasks("testdata/macos")} {
		b.Run(s.Name(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Collect(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
