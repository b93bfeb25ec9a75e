//go:build unix

package gobin

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
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

// fixture is the root testdata/make.sh builds once for the package's tests: Go binaries are a
// few MiB each and are built, not committed.
var fixture string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gobin-fixture-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command("sh", "testdata/make.sh", dir)
	if os.Geteuid() != 0 {
		cmd.Env = append(os.Environ(), fmt.Sprintf("ALICE_UID=%d", os.Getuid()))
	}
	out, err := cmd.CombinedOutput()
	if err == nil && os.Geteuid() == 0 {
		err = os.Lchown(filepath.Join(dir, "home/alice/go/bin/sync"), 1000, 1000)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "testdata/make.sh: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	fixture = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	pseudoRe   = regexp.MustCompile(`^v0\.0\.0-\d{14}-[0-9a-f]{12}$`)
	revisionRe = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// normalized returns res with what changes from one build to the next (the Go release, the
// commits of the repositories make.sh creates) replaced by placeholders, once checked.
func normalized(t *testing.T, res source.Result) source.Result {
	t.Helper()
	goVersion := strings.TrimPrefix(strings.Fields(goEnv(t, "GOVERSION"))[0], "go")
	for i := range res.Software {
		p := &res.Software[i]
		if p.Labels["go_version"] != "go"+goVersion {
			t.Errorf("%s: go_version %q, want go%s", p.Title(), p.Labels["go_version"], goVersion)
		}
		p.Labels["go_version"] = "GOVERSION"
		if r, ok := p.Labels["vcs.revision"]; ok {
			if !revisionRe.MatchString(r) {
				t.Errorf("%s: revision %q", p.Title(), r)
			}
			p.Labels["vcs.revision"] = "REVISION"
		}
		switch {
		case p.Name == ToolchainName && p.Version == goVersion:
			p.Version = "GOVERSION"
		case pseudoRe.MatchString(p.Version):
			p.Version = "v0.0.0-TIME-REVISION"
		}
	}
	return res
}

func goEnv(t *testing.T, key string) string {
	t.Helper()
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func TestCollect(t *testing.T) {
	res, err := New(hostfs.Root(fixture)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	accepted(t, res.Software)
	res = normalized(t, res)
	golden.AssertJSON(t, "testdata/root.golden.json", res)
	if res.Skipped != 0 {
		t.Errorf("%d skipped", res.Skipped)
	}
	type want struct {
		version, location, user, path string
		copies                        int
	}
	wants := map[string]want{
		"go:github.com/acme/tool": {"v1.4.0", "/opt/acme/bin/acmed", "", "github.com/acme/tool/cmd/acmed", 1},
		"go:github.com/acme/sync": {"v0.0.0-TIME-REVISION", "/home/alice/go/bin/sync", "alice", "", 0},
		"go:example.com/devel":    {"(devel)", "/root/go/bin/devel", "root", "", 0},
		"go:toolchain":            {"GOVERSION", "/usr/local/go", "", "", 0},
	}
	if len(res.Software) != len(wants) {
		t.Errorf("%d packages, want %d", len(res.Software), len(wants))
	}
	for _, p := range res.Software {
		w, ok := wants[p.Title()]
		if !ok {
			t.Errorf("unexpected %s", p.Title())
			continue
		}
		if os.Geteuid() != 0 && w.user == "root" {
			w.user = "alice" // the fixture's files are the test's, alice's uid
		}
		if p.Version != w.version || p.Location != w.location || p.User != w.user || p.Labels["path"] != w.path || p.Copies != w.copies {
			t.Errorf("%s: %+v, want %+v", p.Title(), p, w)
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

func TestNotPresent(t *testing.T) {
	if _, err := New(hostfs.Root(t.TempDir())).Collect(context.Background()); !errors.Is(err, source.ErrNotPresent) {
		t.Errorf("err = %v", err)
	}
}

func TestDirs(t *testing.T) {
	ds := Dirs(hostfs.Root(fixture))
	for _, d := range []string{"/usr/local/bin", "/usr/local/go/bin", "/opt/acme/bin", "/home/alice/go/bin", "/root/go/bin"} {
		if !slices.Contains(ds, d) {
			t.Errorf("%s not listed: %v", d, ds)
		}
	}
	if w := New(hostfs.Root(fixture)).WatchPaths(); !slices.Contains(w, hostfs.Root(fixture).Path("/opt/acme/bin")) {
		t.Errorf("watch paths %v", w)
	}
}

// TestVersion: a binary built from a checkout by a Go older than 1.24 says "(devel)"; its
// VCS revision stands for the version.
func TestVersion(t *testing.T) {
	p := pass{src: New("/")}
	for _, tt := range []struct {
		main, version string
		settings      []debug.BuildSetting
		want          string
	}{
		{"github.com/acme/tool", "v1.2.3", nil, "v1.2.3"},
		{"github.com/acme/tool", "(devel)", []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}}, "0123456789ab"},
		{"github.com/acme/tool", "(devel)", nil, "(devel)"},
		{"github.com/acme/tool", "", []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}}, "abc"},
	} {
		bi := &Info{&debug.BuildInfo{Path: tt.main, Main: debug.Module{Path: tt.main, Version: tt.version}, Settings: tt.settings}}
		pkg, ok := p.pkg(bi, "/usr/local/bin/tool", binDir{host: "/usr/local/bin"})
		if !ok || pkg.Version != tt.want {
			t.Errorf("%q %v: %q %v, want %q", tt.version, tt.settings, pkg.Version, ok, tt.want)
		}
	}
	bad := &Info{&debug.BuildInfo{Main: debug.Module{Path: "evil module\n", Version: "v1"}}}
	if _, ok := p.pkg(bad, "/x", binDir{host: "/"}); ok {
		t.Error("a module path with a space and a newline is reported")
	}
}

// TestReadBounded: Read reads a real binary's build information as debug/buildinfo does, in
// few bytes, and refuses past its budget.
func TestReadBounded(t *testing.T) {
	f, err := os.Open(filepath.Join(fixture, "usr/local/bin/acmetool"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	want, err := buildinfo.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	c := &countingReader{r: f}
	bi, err := Read(c, fi.Size())
	if err != nil || bi.Main != want.Main || bi.Path != want.Path {
		t.Fatalf("%+v, %v; want %+v", bi, err, want)
	}
	if c.n > 1<<20 {
		t.Errorf("read %d bytes of a %d-byte binary", c.n, fi.Size())
	}
	t.Logf("read %d bytes of a %d-byte binary", c.n, fi.Size())
}

type countingReader struct {
	r *os.File
	n int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

// TestHostile: a 4 GiB sparse file and a 4 GiB sparse ELF named like binaries, a FIFO, an
// unreadable binary, links out of the root and in a loop, and a directory of them are read
// within their bounds or skipped, never followed or waited on.
func TestHostile(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(root, "usr/local/bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	sparse := func(name string, head []byte) {
		f, err := os.OpenFile(filepath.Join(bin, name), os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(head); err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(4 << 30); err != nil {
			t.Fatal(err)
		}
	}
	sparse("huge", nil)
	// An ELF header claiming 65535 section headers of 64 KiB each at the end of the file.
	elfHead := []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00\x01\x00\x00\x00" +
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00" +
		"\x00\x00\x00\x00\x40\x00\x38\x00\x00\x00\xff\xff\xff\xff\x00\x00")
	sparse("huge-elf", elfHead)
	if err := syscall.Mkfifo(filepath.Join(bin, "fifo"), 0o755); err != nil {
		t.Fatal(err)
	}
	acme, err := os.ReadFile(filepath.Join(fixture, "usr/local/bin/acmetool"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "locked"), acme, 0o111); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "truncated"), acme[:len(acme)/3], 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		filepath.Join(bin, "out"): filepath.Join(fixture, "usr/local/bin/acmetool"), filepath.Join(bin, "loop"): filepath.Join(bin, "loop"),
		filepath.Join(root, "opt/loop"): filepath.Join(root, "opt"), filepath.Join(root, "root/go"): "/usr/local/go",
	} {
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	res, err := New(hostfs.Root(root)).Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range res.Software {
		got = append(got, p.Title())
	}
	// root reads the mode 0111 file; the truncated binary and the corrupt ELF are skipped, and
	// so is the locked one for anyone else.
	want, wantSkipped := []string{"go:github.com/acme/tool"}, 2
	if os.Geteuid() != 0 {
		want, wantSkipped = nil, 3
	}
	if !slices.Equal(got, want) || res.Skipped != wantSkipped {
		t.Errorf("got %q, %d skipped; want %q, %d", got, res.Skipped, want, wantSkipped)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func BenchmarkCollect(b *testing.B) {
	s := New(hostfs.Root(fixture))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Collect(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzRead(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join(fixture, "usr/local/bin/acmetool")); err == nil {
		f.Add(b[:min(len(b), 64<<10)])
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &countingBytes{b: b}
		bi, err := Read(c, int64(len(b)))
		if err == nil && bi == nil {
			t.Fatal("no build information and no error")
		}
		if c.n > MaxRead {
			t.Fatalf("read %d bytes", c.n)
		}
	})
}

type countingBytes struct {
	b []byte
	n int64
}

func (c *countingBytes) ReadAt(p []byte, off int64) (int, error) {
	n, err := bytes.NewReader(c.b).ReadAt(p, off)
	c.n += int64(n)
	return n, err
}
