//go:build unix

package snap

import (
	"bytes"
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
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/golden"
)

// collect reads root and zeroes the install times, which a checkout does not keep, once
// checked against the snap files' modification times.
func collect(t *testing.T, root string) source.Result {
	t.Helper()
	res, err := New(hostfs.Root(root)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range res.Software {
		if p.InstallTime.IsZero() {
			continue
		}
		inst := strings.TrimPrefix(filepath.Dir(p.Location), "/snap/")
		fi, err := os.Stat(filepath.Join(root, blobDir, inst+"_"+p.Labels["revision"]+".snap"))
		if err != nil || !p.InstallTime.Equal(fi.ModTime()) || p.InstalledSize != uint64(fi.Size()) {
			t.Errorf("%s: install time %v, size %d, file %v", p.Location, p.InstallTime, p.InstalledSize, err)
		}
		res.Software[i].InstallTime = time.Time{}
	}
	return res
}

func TestCollect(t *testing.T) {
	res := collect(t, "testdata/root")
	golden.AssertJSON(t, "testdata/root.golden.json", res)
	if res.Skipped != 1 { // acme-broken's snap.yaml
		t.Errorf("%d skipped, want 1", res.Skipped)
	}
	type want struct {
		version, location, confinement string
		platform                       bool
	}
	wants := map[string]want{
		"core22":      {"20240111", "/snap/core22/1033", "strict", true},
		"snapd":       {"2.61.2", "/snap/snapd/20671", "strict", true},
		"acme-hello":  {"2.10", "/snap/acme-hello/42", "strict", false},
		"acme-ide":    {"2024.1.3", "/snap/acme-ide/7", "classic", false},
		"acme-tool":   {"0.3-dev", "/snap/acme-tool/x1", "devmode", false},
		"acme-old":    {"1.0", "/snap/acme-old/5", "strict", false},
		"acme-broken": {"r3", "/snap/acme-broken/3", "", false},
	}
	if len(res.Software) != len(wants) {
		t.Errorf("%d snaps, want %d", len(res.Software), len(wants))
	}
	for _, p := range res.Software {
		w, ok := wants[p.Name]
		if !ok {
			t.Errorf("unexpected %s", p.Title())
			continue
		}
		if p.Version != w.version || p.Location != w.location || p.Labels["confinement"] != w.confinement || p.Platform != w.platform {
			t.Errorf("%s: %+v", p.Title(), p)
		}
	}
	i := slices.IndexFunc(res.Software, func(p model.Package) bool { return p.Name == "acme-hello" })
	if i < 0 || res.Software[i].Copies != 1 || res.Software[i].Labels["apps"] != "acme-hello,greeterd" || res.Software[i].Labels["channel"] != "latest/stable" {
		t.Errorf("acme-hello: %+v", res.Software)
	}
	if i := slices.IndexFunc(res.Software, func(p model.Package) bool { return p.Name == "acme-old" }); i < 0 ||
		res.Software[i].Labels["enabled"] != "false" || res.Software[i].Vendor != "" {
		t.Error("acme-old is not marked disabled, or has a publisher without an account assertion")
	}
	for name, pub := range map[string][3]string{"acme-hello": {"Acme Inc.", "acme", "unproven"}, "core22": {"Canonical", "canonical", "verified"}} {
		i := slices.IndexFunc(res.Software, func(p model.Package) bool { return p.Name == name })
		if p := res.Software[i]; p.Vendor != pub[0] || p.Labels["publisher"] != pub[1] || p.Labels["publisher_validation"] != pub[2] {
			t.Errorf("%s: publisher %q %v", name, p.Vendor, p.Labels)
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

// TestFedoraLayout: where /snap is a link to /var/lib/snapd/snap, or absent, the snaps are
// read from /var/lib/snapd/snap.
func TestFedoraLayout(t *testing.T) {
	for _, link := range []bool{true, false} {
		root := t.TempDir()
		copyFile(t, "testdata/root"+StatePath, filepath.Join(root, StatePath))
		copyFile(t, "testdata/root/snap/core22/1033/meta/snap.yaml", filepath.Join(root, "var/lib/snapd/snap/core22/1033/meta/snap.yaml"))
		if link {
			if err := os.Symlink("/var/lib/snapd/snap", filepath.Join(root, "snap")); err != nil {
				t.Fatal(err)
			}
		}
		res, err := New(hostfs.Root(root)).Collect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(res.Software, func(p model.Package) bool { return p.Name == "core22" })
		if i < 0 || res.Software[i].Version != "20240111" {
			t.Errorf("link %v: core22 not read: %+v", link, res.Software)
		}
		if want := "/snap/core22/1033"; !link {
			if want = "/var/lib/snapd/snap/core22/1033"; res.Software[i].Location != want {
				t.Errorf("location %s, want %s", res.Software[i].Location, want)
			}
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(b))
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

func TestNotPresent(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "var/lib/snapd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := New(hostfs.Root(root)).Collect(context.Background()); !errors.Is(err, source.ErrNotPresent) {
		t.Errorf("err = %v", err)
	}
}

func TestWatchPaths(t *testing.T) {
	if ps := New("testdata/root").WatchPaths(); !slices.Equal(ps, []string{"testdata/root/var/lib/snapd"}) {
		t.Errorf("watch paths %v", ps)
	}
}

// TestCorruptState: a state file that is not snapd's, cut short or too large fails the
// source, counted, rather than report every snap gone.
func TestCorruptState(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":   "\x00\x01 not json",
		"truncated": `{"data":{"snaps":{"core22":{"type":"base","sequence":[{"name":"core22","revision":"1"}],"current":"1"`,
		"array":     `[1,2,3]`,
		"snaps":     `{"data":{"snaps":[]}}`,
		"empty":     ``,
	} {
		root := t.TempDir()
		writeFile(t, filepath.Join(root, StatePath), content)
		res, err := New(hostfs.Root(root)).Collect(context.Background())
		if err == nil || errors.Is(err, source.ErrNotPresent) || res.Skipped != 1 {
			t.Errorf("%s: err %v, %d skipped", name, err, res.Skipped)
		}
	}
	root := t.TempDir()
	p := filepath.Join(root, StatePath)
	writeFile(t, p, "")
	if err := os.Truncate(p, MaxState+1); err != nil {
		t.Fatal(err)
	}
	if _, err := New(hostfs.Root(root)).Collect(context.Background()); !errors.Is(err, hostfs.ErrTooLarge) {
		t.Errorf("huge state file: %v", err)
	}
}

// TestHostile: malformed snaps are skipped and counted; a snap.yaml linked out of the root,
// a link loop, a FIFO and an oversized snap.yaml are not followed, waited on or read whole;
// a state with more than MaxSnaps snaps is read to its bound.
func TestHostile(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(t.TempDir(), "snap.yaml")
	writeFile(t, outside, "name: out\nversion: secret\n")
	snaps := []string{
		`"out":{"type":"app","sequence":[{"name":"out","revision":"1"}],"current":"1","active":true}`,
		`"loop":{"type":"app","sequence":[{"name":"loop","revision":"1"}],"current":"1","active":true}`,
		`"fifo":{"type":"app","sequence":[{"name":"fifo","revision":"1"}],"current":"1","active":true}`,
		`"big":{"type":"app","sequence":[{"name":"big","revision":"1"}],"current":"1","active":true}`,
		`"bad-yaml":{"type":"app","sequence":[{"name":"bad-yaml","revision":"1"}],"current":"1","active":true}`,
		`"ok":{"type":"app","sequence":[{"name":"ok","revision":2}],"current":2,"active":true}`,
		`"Bad_Name":{"type":"app","sequence":[{"name":"Bad","revision":"1"}],"current":"1"}`,
		`"nocurrent":{"type":"app","sequence":[{"name":"nocurrent","revision":"1"}],"current":"2"}`,
		`"typed":{"type":3}`,
		`"null":null`,
		`"installing":{"type":"app","sequence":[]}`,
		`"escape":{"type":"app","sequence":[{"name":"../../etc","revision":"1"}],"current":"1"}`,
	}
	writeFile(t, filepath.Join(root, StatePath), `{"data":{"snaps":{`+strings.Join(snaps, ",")+`}}}`)
	mount := func(name string) string { return filepath.Join(root, "snap", name, "1", "meta", "snap.yaml") }
	for _, n := range []string{"out", "loop", "fifo", "big"} {
		if err := os.MkdirAll(filepath.Dir(mount(n)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, mount("out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(mount("loop"), mount("loop")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(mount("fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile(t, mount("big"), "")
	if err := os.Truncate(mount("big"), 100<<20); err != nil {
		t.Fatal(err)
	}
	writeFile(t, mount("bad-yaml"), "name: [unterminated\n")
	writeFile(t, filepath.Join(root, "snap/ok/2/meta/snap.yaml"), "name: ok\nversion: 1.10\napps: {a: {command: a}}\n")
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
	// out, loop, fifo, big and bad-yaml are reported from the state without their snap.yaml.
	want := []string{"bad-yaml=r1", "big=r1", "fifo=r1", "loop=r1", "ok=1.10", "out=r1"}
	if !slices.Equal(got, want) || res.Skipped != 10 { // 5 snap.yaml, Bad_Name, nocurrent, typed, null, escape
		t.Errorf("got %q, %d skipped; want %q, 10", got, res.Skipped, want)
	}
	accepted(t, res.Software)
}

// TestManySnaps: a state of 10,000 snaps is read to MaxSnaps, the rest counted, in bounded
// time.
func TestManySnaps(t *testing.T) {
	root := t.TempDir()
	var b bytes.Buffer
	b.WriteString(`{"data":{"snaps":{`)
	for i := range 10000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"s%d":{"type":"app","sequence":[{"name":"s%d","revision":"1"}],"current":"1","active":true}`, i, i)
	}
	b.WriteString(`}},"changes":{}}`)
	writeFile(t, filepath.Join(root, StatePath), b.String())
	start := time.Now()
	res, err := New(hostfs.Root(root)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Software) != MaxSnaps || res.Skipped != 10000 { // 5,000 past the bound, 5,000 without snap.yaml
		t.Errorf("%d snaps, %d skipped", len(res.Software), res.Skipped)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestRevision(t *testing.T) {
	for in, want := range map[string]string{`"1033"`: "1033", `"x1"`: "x1", `12`: "12", `-3`: "x3"} {
		var r Revision
		if err := r.UnmarshalJSON([]byte(in)); err != nil || r.String() != want {
			t.Errorf("%s: %v %v", in, r, err)
		}
	}
	for _, in := range []string{`"x"`, `"x-1"`, `"abc"`, `1.5`, `""`, `"99999999999"`} {
		var r Revision
		if err := r.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("%s: no error", in)
		}
	}
}

func TestParseMeta(t *testing.T) {
	m, err := ParseMeta([]byte("name: a\nversion: 1.10\nsummary: s\napps:\n  z: {}\n  b: {}\narchitectures: [amd64]\n"))
	if err != nil || m.Version != "1.10" || !slices.Equal(m.Apps, []string{"b", "z"}) || m.Summary != "s" {
		t.Errorf("%+v %v", m, err)
	}
	for _, in := range []string{"", "name: a\n", "- a\n", "name: [a]\nversion: 1\n", "&a [*a, *a]"} {
		if _, err := ParseMeta([]byte(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestParseAssertionHeaders(t *testing.T) {
	h := ParseAssertionHeaders([]byte("type: account\nplugs:\n  x: y\naccount-id: a1\ntype: other\n\nbody: no\n"))
	if len(h) != 3 || h["type"] != "account" || h["account-id"] != "a1" || h["plugs"] != "" {
		t.Errorf("%v", h)
	}
}

// TestPublisherHostile: assertions that are not what their path says, or linked out of the
// root, give no publisher; the former are counted.
func TestPublisherHostile(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, StatePath), `{"data":{"snaps":{`+
		`"a":{"type":"app","sequence":[{"name":"a","snap-id":"AAAA","revision":"1"}],"current":"1","active":true},`+
		`"b":{"type":"app","sequence":[{"name":"b","snap-id":"BBBB","revision":"1"}],"current":"1","active":true},`+
		`"c":{"type":"app","sequence":[{"name":"c","snap-id":"CCCC","revision":"1"}],"current":"1","active":true},`+
		`"d":{"type":"app","sequence":[{"name":"d","snap-id":"../../x","revision":"1"}],"current":"1","active":true}}}}`)
	for _, n := range []string{"a", "b", "c", "d"} {
		writeFile(t, filepath.Join(root, "snap", n, "1/meta/snap.yaml"), "name: "+n+"\nversion: 1\n")
	}
	decl := func(id, body string) {
		writeFile(t, filepath.Join(root, AssertDir, "snap-declaration/16", id, "active"), body)
	}
	decl("AAAA", "type: snap-declaration\nsnap-id: OTHER\npublisher-id: p1\n") // another snap's
	decl("BBBB", "type: snap-declaration\nsnap-id: BBBB\npublisher-id: p1\n")
	writeFile(t, filepath.Join(root, AssertDir, "account/p1/active"), "type: model\naccount-id: p1\nusername: x\n")
	outside := filepath.Join(t.TempDir(), "active")
	writeFile(t, outside, "type: snap-declaration\nsnap-id: CCCC\npublisher-id: p1\n")
	if err := os.MkdirAll(filepath.Join(root, AssertDir, "snap-declaration/16/CCCC"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, AssertDir, "snap-declaration/16/CCCC/active")); err != nil {
		t.Fatal(err)
	}
	res, err := New(hostfs.Root(root)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Software {
		if p.Vendor != "" || p.Labels["publisher"] != "" {
			t.Errorf("%s: publisher %q", p.Name, p.Vendor)
		}
	}
	if len(res.Software) != 4 || res.Skipped != 2 { // a's declaration, p1's account
		t.Errorf("%d snaps, %d skipped", len(res.Software), res.Skipped)
	}
}

func FuzzParseAssertionHeaders(f *testing.F) {
	if b, err := os.ReadFile("testdata/root" + AssertDir + "/account/canonical/active"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if h := ParseAssertionHeaders(b); len(h) > maxHeaders {
			t.Fatalf("%d headers", len(h))
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	if b, err := os.ReadFile("testdata/root" + StatePath); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"data":{"snaps":{"a":{"sequence":[{"revision":"x1"}],"current":"x1"}}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		more, err := DecodeState(bytes.NewReader(b), 8, func(State, bool) { n++ })
		if n > 8 || more > len(b) || (err != nil && !errors.Is(err, ErrState)) {
			t.Fatalf("%d snaps, %d more, %v", n, more, err)
		}
	})
}

func FuzzParseMeta(f *testing.F) {
	for _, p := range []string{"testdata/root/snap/acme-hello/42/meta/snap.yaml", "testdata/root/snap/core22/1033/meta/snap.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("a: &a [*a]\nname: x\nversion: 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMeta(b)
		if err == nil && (m.Name == "" || m.Version == "" || len(m.Apps) > maxApps) {
			t.Fatalf("%+v", m)
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
