//go:build unix

package flatpak

import (
	"context"
	"encoding/binary"
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
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/golden"
)

func TestCollect(t *testing.T) {
	res, err := New("testdata/root").Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	golden.AssertJSON(t, "testdata/root.golden.json", res)
	if res.Skipped != 0 {
		t.Errorf("%d skipped", res.Skipped)
	}
	type want struct {
		version, user, installation, origin string
		platform                            bool
		copies                              int
	}
	wants := map[string]want{
		"/var/lib/flatpak/app/org.acme.Editor/x86_64/stable":                    {"3.1", "", "system", "acme", false, 0},
		"/var/lib/flatpak/app/org.acme.Hello/x86_64/stable":                     {"1.4.2", "", "system", "acme", false, 0},
		"/home/alice/.local/share/flatpak/app/org.acme.Hello/x86_64/beta":       {"1.5.0~beta1", "alice", "user", "acme-user", false, 0},
		"/home/alice/.local/share/flatpak/runtime/org.acme.Platform/x86_64/1.0": {"1.0.3", "alice", "user", "acme-user", true, 2},
		"/opt/flatpak-extra/app/org.acme.Tool/x86_64/stable":                    {"", "", "extra", "acme", false, 0},
	}
	if len(res.Software) != len(wants) {
		t.Errorf("%d refs, want %d", len(res.Software), len(wants))
	}
	for _, p := range res.Software {
		w, ok := wants[p.Location]
		if !ok {
			t.Errorf("unexpected %s at %s", p.Title(), p.Location)
			continue
		}
		if w.version == "" {
			w.version = p.Labels["commit"][:12] // no AppStream data: the commit stands for a version
		}
		if p.Version != w.version || p.User != w.user || p.Labels["installation"] != w.installation ||
			p.Labels["origin"] != w.origin || p.Labels["origin_url"] != "file:///srv/acme-repo" ||
			p.Platform != w.platform || p.Copies != w.copies || p.Arch != "x86_64" || p.InstallTime.IsZero() || p.InstalledSize == 0 {
			t.Errorf("%s: %+v", p.Location, p)
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
	writeFile(t, filepath.Join(root, "etc/passwd"), "alice:x:1000:1000::/home/alice:/bin/sh\n")
	if _, err := New(hostfs.Root(root)).Collect(context.Background()); !errors.Is(err, source.ErrNotPresent) {
		t.Errorf("err = %v", err)
	}
}

func TestWatchPaths(t *testing.T) {
	ps := New("testdata/root").WatchPaths()
	for _, p := range []string{"/var/lib/flatpak/app", "/var/lib/flatpak/runtime", "/home/alice/.local/share/flatpak/app",
		"/opt/flatpak-extra/runtime", "/root/.local/share/flatpak/app"} {
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

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// fixtureDeploy returns the deploy data of the fixture's system org.acme.Hello.
func fixtureDeploy(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/root/var/lib/flatpak/app/org.acme.Hello/x86_64/stable/active/deploy")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHostile: links out of the installation or the root, link loops, FIFOs, truncated and
// garbage deploy data, garbage metadata and metainfo are skipped and counted, never followed,
// waited on or read whole.
func TestHostile(t *testing.T) {
	root := t.TempDir()
	inst := filepath.Join(root, "var/lib/flatpak")
	good := fixtureDeploy(t)
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "c", "deploy"), string(good))
	writeFile(t, filepath.Join(outside, "share/metainfo/org.acme.Out.metainfo.xml"),
		`<component><id>org.acme.Out</id><releases><release version="secret"/></releases></component>`)
	ref := func(id, branch string) string { return filepath.Join(inst, "app", id, "x86_64", branch) }
	deploy := func(id, branch, content string) {
		writeFile(t, filepath.Join(ref(id, branch), "c0ffee", "deploy"), content)
		writeFile(t, filepath.Join(ref(id, branch), "c0ffee", "metadata"), "[Application]\nname="+id+"\n")
		symlink(t, "c0ffee", filepath.Join(ref(id, branch), "active"))
	}
	deploy("org.acme.Ok", "stable", string(good))
	deploy("org.acme.Truncated", "stable", string(good[:len(good)/2]))
	deploy("org.acme.Garbage", "stable", "\xff\xfe garbage \x00\x01\x02")
	deploy("org.acme.Empty", "stable", "")
	symlink(t, outside+"/c", filepath.Join(ref("org.acme.Abs", "stable"), "active"))
	symlink(t, "../../../../../../..", filepath.Join(ref("org.acme.Up", "stable"), "active"))
	symlink(t, "active", filepath.Join(ref("org.acme.Loop", "stable"), "active"))
	symlink(t, filepath.Join(outside, "c"), filepath.Join(ref("org.acme.Linked", "stable"), "c0ffee"))
	symlink(t, "c0ffee", filepath.Join(ref("org.acme.Linked", "stable"), "active"))
	if err := os.MkdirAll(filepath.Join(ref("org.acme.Fifo", "stable"), "c0ffee"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(ref("org.acme.Fifo", "stable"), "c0ffee", "deploy"), 0o644); err != nil {
		t.Fatal(err)
	}
	symlink(t, "c0ffee", filepath.Join(ref("org.acme.Fifo", "stable"), "active"))
	// A metainfo reached through a link out of the deployment, and garbage metadata.
	deploy("org.acme.Out", "stable", string(withoutAppdata(t, good)))
	symlink(t, outside+"/share", filepath.Join(ref("org.acme.Out", "stable"), "c0ffee/files/share"))
	deploy("org.acme.Meta", "stable", string(good))
	writeFile(t, filepath.Join(ref("org.acme.Meta", "stable"), "c0ffee", "metadata"), "not a key file\n")
	deploy("org.acme.BadInfo", "stable", string(withoutAppdata(t, good)))
	writeFile(t, filepath.Join(ref("org.acme.BadInfo", "stable"), "c0ffee/files/share/metainfo/org.acme.BadInfo.metainfo.xml"), "<component><id>")
	writeFile(t, filepath.Join(ref("org.acme.BadInfo", "stable"), "c0ffee/files/share/appdata/org.acme.BadInfo.appdata.xml"), "")
	if err := os.Truncate(filepath.Join(ref("org.acme.BadInfo", "stable"), "c0ffee/files/share/appdata/org.acme.BadInfo.appdata.xml"), 100<<20); err != nil {
		t.Fatal(err)
	}
	// An installation whose runtime and repo directories are links out of it.
	other := filepath.Join(root, "home/bob", UserDir)
	symlink(t, filepath.Join(inst, "app"), filepath.Join(other, "runtime"))
	writeFile(t, filepath.Join(outside, "repo/config"), "[remote \"acme\"]\nurl=file:///secret\n")
	symlink(t, filepath.Join(outside, "repo"), filepath.Join(other, "repo"))
	writeFile(t, filepath.Join(root, "etc/passwd"), "bob:x:1001:1001::/home/bob:/bin/sh\n")
	// Names flatpak would refuse.
	deploy("two.parts", "stable", string(good))
	deploy("org.acme.Branch", ".hidden", string(good))
	// An installation configured out of the root and a malformed configuration.
	writeFile(t, filepath.Join(root, InstallationsDir, "a.conf"), "[Installation \"a\"]\nPath=relative/path\n")
	writeFile(t, filepath.Join(root, InstallationsDir, "b.conf"), "garbage\n")
	symlink(t, "/etc/shadow", filepath.Join(root, InstallationsDir, "c.conf"))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := New(hostfs.Root(root)).Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range res.Software {
		got = append(got, p.Name+"="+p.Version)
	}
	want := []string{"org.acme.BadInfo=" + commitOf(t, good)[:12], "org.acme.Meta=1.4.2", "org.acme.Ok=1.4.2",
		"org.acme.Out=" + commitOf(t, good)[:12]}
	// Truncated, Garbage, Empty, Abs, Up, Loop, Linked, Fifo, two.parts, .hidden; Meta's
	// metadata and BadInfo's metainfo; a.conf and b.conf.
	if !slices.Equal(got, want) || res.Skipped != 14 {
		t.Errorf("got %q, %d skipped; want %q, 14", got, res.Skipped, want)
	}
	accepted(t, res.Software)
}

func commitOf(t *testing.T, b []byte) string {
	d, err := ParseDeploy(b)
	if err != nil {
		t.Fatal(err)
	}
	return d.Commit
}

// withoutAppdata returns deploy data like b whose metadata holds no AppStream values.
func withoutAppdata(t testing.TB, b []byte) []byte {
	d, err := ParseDeploy(b)
	if err != nil {
		t.Fatal(err)
	}
	return encodeDeploy(d.Origin, d.Commit, d.Subpaths, d.InstalledSize, map[string]string{"runtime": d.Strings["runtime"]})
}

// encodeDeploy serializes deploy data as GLib does, for the tests: the reader's inverse.
func encodeDeploy(origin, commit string, subpaths []string, size uint64, meta map[string]string) []byte {
	var b []byte
	pad := func(a int) {
		for len(b)%a != 0 {
			b = append(b, 0)
		}
	}
	b = append(append(b, origin...), 0)
	e1 := len(b)
	b = append(append(b, commit...), 0)
	e2 := len(b)
	var as []byte
	var ends []int
	for _, s := range subpaths {
		as = append(append(as, s...), 0)
		ends = append(ends, len(as))
	}
	b = append(b, framed(as, ends)...)
	e3 := len(b)
	pad(8)
	b = binary.BigEndian.AppendUint64(b, size)
	var dict []byte
	ends = nil
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range meta {
			if !yield(k) {
				return
			}
		}
	}) {
		for len(dict)%8 != 0 {
			dict = append(dict, 0)
		}
		e := append([]byte(k), 0)
		kend := len(e)
		for len(e)%8 != 0 {
			e = append(e, 0)
		}
		e = append(append(append(e, meta[k]...), 0, 0), 's')
		dict = append(dict, framed(e, []int{kend})...)
		ends = append(ends, len(dict))
	}
	pad(8)
	b = append(b, framed(dict, ends)...)
	return framed(b, []int{e3, e2, e1})
}

// framed appends the framing offsets ends (in the order they are stored) to b, in the size
// the whole needs.
func framed(b []byte, ends []int) []byte {
	if len(ends) == 0 {
		return b
	}
	for _, n := range []int{1, 2, 4} {
		if total := len(b) + n*len(ends); total < 1<<(8*n) {
			for _, e := range ends {
				for k := range n {
					b = append(b, byte(e>>(8*k)))
				}
			}
			return b
		}
	}
	panic("too large")
}

func TestParseDeploy(t *testing.T) {
	d, err := ParseDeploy(fixtureDeploy(t))
	if err != nil || d.Origin != "acme" || len(d.Commit) != 64 || d.InstalledSize == 0 || d.Timestamp.IsZero() ||
		d.Strings["appdata-version"] != "1.4.2" || d.Strings["runtime"] != "org.acme.Platform/x86_64/1.0" {
		t.Fatalf("%+v %v", d, err)
	}
	// Framing offsets of 2 bytes, subpaths, and the encoder agreeing with flatpak's writer.
	long := strings.Repeat("x", 300)
	b := encodeDeploy("origin", d.Commit, []string{"/share/locale/de", "/share/locale/fr"}, 12345, map[string]string{"appdata-summary": long, "eol": "gone"})
	d2, err := ParseDeploy(b)
	if err != nil || d2.Origin != "origin" || !slices.Equal(d2.Subpaths, []string{"/share/locale/de", "/share/locale/fr"}) ||
		d2.InstalledSize != 12345 || d2.Strings["appdata-summary"] != long || d2.Strings["eol"] != "gone" {
		t.Fatalf("%+v %v", d2, err)
	}
	for i := range len(b) {
		if _, err := ParseDeploy(b[:i]); err == nil && i < len(b)-1 {
			t.Errorf("truncated at %d: no error", i)
		}
	}
}

func TestParseKeyFile(t *testing.T) {
	kf, err := ParseKeyFile([]byte("# c\n[Application]\nname=org.a.B\nName[de]=x\nruntime = r/x86_64/1\nv=a\\sb\\\\c\\n\n\n[Installation \"x\"]\nPath=/p\n"))
	if err != nil || kf.Get("Application", "name") != "org.a.B" || kf.Get("Application", "runtime") != "r/x86_64/1" ||
		kf.Get("Application", "v") != "a b\\c\n" || kf.Get(`Installation "x"`, "Path") != "/p" || kf.Get("Application", "Name[de]") != "" {
		t.Errorf("%v %v", kf, err)
	}
	for _, in := range []string{"k=v\n", "[a\n", "[a]\nno equals\n", "[]\n"} {
		if _, err := ParseKeyFile([]byte(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestParseMetainfo(t *testing.T) {
	m, err := ParseMetainfo([]byte(`<?xml version="1.0"?><component><id>org.a.B</id><name xml:lang="de">X</name><name>B</name>` +
		`<summary><b xml:lang="fr">y</b>S</summary><developer_name>Acme</developer_name><project_license>MIT</project_license>` +
		`<releases><release version="2.0"/><release version="1.0"/></releases></component>`))
	if err != nil || (m != Metainfo{ID: "org.a.B", Name: "B", Summary: "S", License: "MIT", Version: "2.0", Developer: "Acme"}) {
		t.Errorf("%+v %v", m, err)
	}
	for _, in := range []string{"", "<component>", "<a><id>x</id></a>", `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><component><id>&e;</id></component>`} {
		if m, err := ParseMetainfo([]byte(in)); err == nil {
			t.Errorf("%q: no error: %+v", in, m)
		}
	}
}

func FuzzParseDeploy(f *testing.F) {
	f.Add(fixtureDeploy(f))
	f.Add(encodeDeploy("o", "c", []string{"/a"}, 1, map[string]string{"k": strings.Repeat("v", 300)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDeploy(b)
		if err == nil && (len(d.Origin)+len(d.Commit) > len(b) || len(d.Subpaths) > maxElements || len(d.Strings) > maxElements) {
			t.Fatalf("%+v from %d bytes", d, len(b))
		}
	})
}

func FuzzParseKeyFile(f *testing.F) {
	for _, p := range []string{"testdata/root/etc/flatpak/installations.d/extra.conf", "testdata/root/var/lib/flatpak/repo/config"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("[a]\nk=\\s\\n\\\\\\"))
	f.Fuzz(func(t *testing.T, b []byte) {
		kf, err := ParseKeyFile(b)
		if err == nil && len(kf) > maxGroups {
			t.Fatalf("%d groups", len(kf))
		}
	})
}

func FuzzParseMetainfo(f *testing.F) {
	ps, _ := filepath.Glob("testdata/root/var/lib/flatpak/*/*/*/*/*/files/share/*/*.xml")
	for _, p := range ps {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMetainfo(b)
		if err == nil && (m.ID == "" || len(m.ID)+len(m.Name)+len(m.Summary)+len(m.Version) > len(b)) {
			t.Fatalf("%+v from %d bytes", m, len(b))
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
