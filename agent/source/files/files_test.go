package files

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/golden"
)

var fixedTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fixtureRoot copies testdata/root with every file's time set to fixedTime.
func fixtureRoot(t testing.TB) string {
	t.Helper()
	root := fixture.CopyRoot(t, "testdata/root")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		return os.Chtimes(p, fixedTime, fixedTime)
	})
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// runner is the owner the fixture root's files have once copied: the test's user, named
// through the fixture's passwd, which knows root and acme.
func runner() string {
	switch os.Getuid() {
	case 0:
		return "root"
	case 1001:
		return "acme"
	}
	return "uid:" + strconv.Itoa(os.Getuid())
}

func collect(t testing.TB, s *Source) source.Result {
	t.Helper()
	res, err := s.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Software {
		// What the report carries must need no cleaning: names within MaxNameLen, texts clean.
		if p.Name == "" || protocol.CleanText(p.Name, protocol.MaxNameLen) != p.Name || p.Version == "" ||
			protocol.CleanText(p.Version, protocol.MaxFieldLen) != p.Version || p.Location != p.Name {
			t.Errorf("package %q, version %q: not report text", p.Name, p.Version)
		}
		for k, v := range p.Labels {
			if !protocol.ValidLabelKey(k) || protocol.CleanText(v, protocol.MaxFieldLen) != v {
				t.Errorf("%s: label %q=%q", p.Name, k, v)
			}
		}
	}
	return res
}

func names(pkgs []model.Package) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.Name)
	}
	return out
}

func TestCollect(t *testing.T) {
	s := New(Options{Root: hostfs.Root(fixtureRoot(t)), StateDir: t.TempDir()})
	res := collect(t, s)
	want := []string{"/opt/acme/bin/acmectl", "/opt/apps/Viewer.AppImage", "/srv/data/run.sh", "/usr/local/bin/tool"}
	if got := names(res.Software); !slices.Equal(got, want) {
		t.Fatalf("found %q, want %q (hello and cowsay are dpkg's, node_modules and site-packages skipped)", got, want)
	}
	byName := map[string]model.Package{}
	for i, p := range res.Software {
		if p.User != runner() || p.InstalledBy != p.User || p.Evidence != "file-owner" {
			t.Errorf("%s: owner %q/%q/%q, want %q", p.Name, p.User, p.InstalledBy, p.Evidence, runner())
		}
		if !strings.HasPrefix(p.Digest, "sha256:") || len(p.Digest) != 71 || p.Location != p.Name || !p.InstallTime.Equal(fixedTime) {
			t.Errorf("%s: %+v", p.Name, p)
		}
		res.Software[i].User, res.Software[i].InstalledBy = "<runner>", "<runner>"
		byName[p.Name] = p
	}
	acme := byName["/opt/acme/bin/acmectl"]
	if acme.Version != "2.4.1" || acme.Labels["package_name"] != "acme" || acme.Labels["package_type"] != "deb" ||
		acme.Labels["package_os_cpe"] != "cpe:/o:debian:debian_linux:12" {
		t.Errorf("package note not read: %+v", acme)
	}
	if v := byName["/opt/apps/Viewer.AppImage"]; v.Labels["appimage"] != "true" {
		t.Errorf("AppImage not recognised: %+v", v)
	}
	if tool := byName["/usr/local/bin/tool"]; tool.Version != tool.Digest[:19] {
		t.Errorf("tool's version %q is not its digest's prefix %q", tool.Version, tool.Digest)
	}
	st := s.Stats()
	if st.Owned != 2 || st.HashedFiles != 4 || st.Truncated {
		t.Errorf("stats %+v: want hello and cowsay owned, 4 files hashed", st)
	}
	golden.AssertJSON(t, "testdata/root.golden.json", res)
}

func TestNotPresent(t *testing.T) {
	_, err := New(Options{Root: hostfs.Root(t.TempDir())}).Collect(context.Background())
	if !errors.Is(err, source.ErrNotPresent) {
		t.Errorf("err = %v", err)
	}
}

// TestCache: an unchanged pass hashes nothing, in the same source and in a new one reading the
// state directory (a restarted agent); a changed file is hashed again and changes version.
func TestCache(t *testing.T) {
	root, state := fixtureRoot(t), t.TempDir()
	s := New(Options{Root: hostfs.Root(root), StateDir: state})
	first := collect(t, s)
	if st := s.Stats(); st.HashedBytes == 0 {
		t.Fatalf("first pass hashed nothing: %+v", st)
	}
	second := collect(t, s)
	if st := s.Stats(); st.HashedBytes != 0 || st.HashedFiles != 0 || st.Cached != len(first.Software) {
		t.Errorf("unchanged pass: %+v", st)
	}
	if !slices.EqualFunc(first.Software, second.Software, func(a, b model.Package) bool { return a.Version == b.Version && a.Digest == b.Digest }) {
		t.Error("an unchanged pass reports other versions")
	}
	restarted := New(Options{Root: hostfs.Root(root), StateDir: state})
	collect(t, restarted)
	if st := restarted.Stats(); st.HashedBytes != 0 {
		t.Errorf("restarted source hashed %d bytes of unchanged files", st.HashedBytes)
	}
	content := []byte("#!/bin/sh\necho tool 2\n")
	if err := os.WriteFile(filepath.Join(root, "usr/local/bin/tool"), content, 0o755); err != nil {
		t.Fatal(err)
	}
	third := collect(t, restarted)
	if st := restarted.Stats(); st.HashedBytes != int64(len(content)) || st.HashedFiles != 1 {
		t.Errorf("after one change: %+v", st)
	}
	i := slices.Index(names(third.Software), "/usr/local/bin/tool")
	j := slices.Index(names(first.Software), "/usr/local/bin/tool")
	if i < 0 || third.Software[i].Version == first.Software[j].Version {
		t.Errorf("changed content kept its version")
	}
}

// TestGoBinary builds a Go program into the root: its main module's path is a label and, with
// a tagged commit, its version is the module version the toolchain stamped.
func TestGoBinary(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is needed to stamp a module version")
	}
	src, root := t.TempDir(), t.TempDir()
	write(t, src, "go.mod", "module example.com/gotool\n\ngo 1.22\n", 0o644)
	write(t, src, "main.go", "package main\n\nfunc main() { println(\"gotool\") }\n", 0o644)
	env := append(os.Environ(), "GOFLAGS=", "GOWORK=off", "CGO_ENABLED=0", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = src, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("git", "init", "-q")
	run("git", "add", ".")
	run("git", "commit", "-qm", "gotool")
	run("git", "tag", "v1.2.3")
	// In /usr/local/bin the gobin source reports it (go:example.com/gotool); elsewhere this one.
	run("go", "build", "-buildvcs=true", "-trimpath", "-o", filepath.Join(root, "usr/local/bin/gotool"), ".")
	run("go", "build", "-buildvcs=true", "-trimpath", "-o", filepath.Join(root, "usr/local/libexec/gotool"), ".")
	res := collect(t, New(Options{Root: hostfs.Root(root)}))
	if len(res.Software) != 1 {
		t.Fatalf("%+v", res.Software)
	}
	p := res.Software[0]
	if p.Name != "/usr/local/libexec/gotool" || p.Version != "v1.2.3" || p.Labels["go_module"] != "example.com/gotool" {
		t.Errorf("%+v", p)
	}
}

func write(t testing.TB, dir, name, content string, mode fs.FileMode) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func symlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestOwned: the file lists of dpkg (through a link the host has and the package did not),
// apk, pacman and rpm each drop the files they own.
func TestOwned(t *testing.T) {
	root := fixture.CopyRoot(t, "../../testdata/roots/rocky9") // an rpm database
	for _, n := range []string{"a", "b", "c", "d", "mine"} {
		write(t, root, "usr/local/bin/"+n, "#!/bin/sh\n", 0o755)
	}
	symlink(t, "bin", filepath.Join(root, "usr/local/sbin"))
	write(t, root, "var/lib/dpkg/info/a.list", "/.\n/usr/local\n/usr/local/sbin\n/usr/local/sbin/a\n", 0o644)
	write(t, root, "lib/apk/db/installed", "P:b\nV:1\nF:usr/local/bin\nR:b\nZ:Q1x=\n\nP:z\nR:mine\n", 0o644)
	write(t, root, "var/lib/pacman/local/c-1-1/files", "%FILES%\nusr/\nusr/local/\nusr/local/bin/c\n\n%BACKUP%\nusr/local/bin/d\n", 0o644)
	// rocky9's bash package owns /usr/share/bash/bash.data: a unit naming it finds it owned.
	write(t, root, "usr/share/bash/bash.data", "x", 0o755)
	write(t, root, "etc/systemd/system/b.service", "[Service]\nExecStart=/usr/share/bash/bash.data\n", 0o644)
	s := New(Options{Root: hostfs.Root(root)})
	res := collect(t, s)
	if got, want := names(res.Software), []string{"/usr/local/bin/d", "/usr/local/bin/mine"}; !slices.Equal(got, want) {
		t.Errorf("found %q, want %q", got, want)
	}
	if st := s.Stats(); st.Owned != 4 {
		t.Errorf("%d owned, want 4", st.Owned)
	}
}
