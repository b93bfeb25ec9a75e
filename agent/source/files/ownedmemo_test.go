package files

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
)

// TestOwnedMemo: an unchanged pass reuses what the package databases said of each file
// instead of reading them again; a package that starts listing a file (dpkg installing it)
// drops the file at the next pass, and a new candidate makes the databases be read again.
func TestOwnedMemo(t *testing.T) {
	root := t.TempDir()
	write(t, root, "usr/local/bin/tool", "#!/bin/sh\n", 0o755)
	write(t, root, "usr/local/bin/other", "#!/bin/sh\n", 0o755)
	write(t, root, "var/lib/dpkg/status", "Package: base\nStatus: install ok installed\n\n", 0o644)
	write(t, root, "var/lib/dpkg/info/base.list", "/.\n/usr\n/usr/bin/sh\n", 0o644)
	s := New(Options{Root: hostfs.Root(root)})
	if got := names(collect(t, s).Software); !slices.Equal(got, []string{"/usr/local/bin/other", "/usr/local/bin/tool"}) {
		t.Fatalf("first pass: %q", got)
	}
	if s.Stats().OwnedReused {
		t.Fatal("the first pass reused nothing, it cannot say so")
	}
	if got := names(collect(t, s).Software); len(got) != 2 || !s.Stats().OwnedReused {
		t.Fatalf("unchanged pass: %q, reused %v", got, s.Stats().OwnedReused)
	}

	// dpkg installs a package that ships /usr/local/bin/tool: a new .list, a new status.
	write(t, root, "var/lib/dpkg/info/acme.list", "/.\n/usr/local/bin/tool\n", 0o644)
	later := time.Now().Add(time.Second)
	status := filepath.Join(root, "var/lib/dpkg/status")
	if err := os.WriteFile(status, []byte("Package: base\nStatus: install ok installed\n\nPackage: acme\nStatus: install ok installed\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(status, later, later); err != nil {
		t.Fatal(err)
	}
	if got := names(collect(t, s).Software); !slices.Equal(got, []string{"/usr/local/bin/other"}) || s.Stats().OwnedReused {
		t.Fatalf("after dpkg listed the tool: %q, reused %v", got, s.Stats().OwnedReused)
	}
	if collect(t, s); !s.Stats().OwnedReused || s.Stats().Owned != 1 {
		t.Fatalf("unchanged again: %+v", s.Stats())
	}

	// A new executable is a candidate the memo does not know: the databases are read.
	write(t, root, "opt/acme/bin/acmectl", "#!/bin/sh\n", 0o755)
	if got := names(collect(t, s).Software); !slices.Contains(got, "/opt/acme/bin/acmectl") || s.Stats().OwnedReused {
		t.Fatalf("with a new file: %q, reused %v", got, s.Stats().OwnedReused)
	}
}

// TestSkipsSourceTrees: the sources, tests and documentation that come with software are not
// walked, so a toolchain's thousands of scripts are not software of their own.
func TestSkipsSourceTrees(t *testing.T) {
	root := t.TempDir()
	write(t, root, "usr/local/go/bin/go", "#!/bin/sh\n", 0o755)
	for _, p := range []string{"usr/local/go/src/make.bash", "usr/local/go/test/run.sh", "opt/app/docs/build.sh", "opt/app/include/gen.sh"} {
		write(t, root, p, "#!/bin/sh\n", 0o755)
	}
	if got := names(collect(t, New(Options{Root: hostfs.Root(root)})).Software); !slices.Equal(got, []string{"/usr/local/go/bin/go"}) {
		t.Errorf("got %q", got)
	}
}

// TestOwnedMemoKept: the memo is kept in the state directory, so an agent started again on
// unchanged databases reads no file list; a changed database, or a memo file that is not
// one, makes the databases be read again.
func TestOwnedMemoKept(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	write(t, root, "usr/local/bin/tool", "#!/bin/sh\n", 0o755)
	write(t, root, "usr/bin/sh", "#!/bin/sh\n", 0o755)
	write(t, root, "etc/systemd/system/sh.service", "[Service]\nExecStart=/usr/bin/sh\n", 0o644)
	write(t, root, "var/lib/dpkg/status", "Package: base\nStatus: install ok installed\n\n", 0o644)
	write(t, root, "var/lib/dpkg/info/base.list", "/.\n/usr\n/usr/bin/sh\n", 0o644)
	opts := Options{Root: hostfs.Root(root), StateDir: state}
	first := New(opts)
	want := []string{"/usr/local/bin/tool"}
	if got := names(collect(t, first).Software); !slices.Equal(got, want) || first.Stats().OwnedReused {
		t.Fatalf("first pass: %q, %+v", got, first.Stats())
	}
	again := New(opts)
	if got := names(collect(t, again).Software); !slices.Equal(got, want) || !again.Stats().OwnedReused || again.Stats().Owned != 1 {
		t.Fatalf("a new source on the same state directory: %q, %+v", got, again.Stats())
	}

	// dpkg removes base: its .list goes, the status is rewritten.
	if err := os.Remove(filepath.Join(root, "var/lib/dpkg/info/base.list")); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Second)
	if err := os.Chtimes(filepath.Join(root, "var/lib/dpkg/status"), later, later); err != nil {
		t.Fatal(err)
	}
	third := New(opts)
	want = []string{"/usr/bin/sh", "/usr/local/bin/tool"}
	if got := names(collect(t, third).Software); !slices.Equal(got, want) || third.Stats().OwnedReused {
		t.Fatalf("after base was removed: %q, %+v", got, third.Stats())
	}

	if err := os.WriteFile(filepath.Join(state, memoFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	fourth := New(opts)
	if got := names(collect(t, fourth).Software); !slices.Equal(got, want) || fourth.Stats().OwnedReused {
		t.Fatalf("with a corrupt memo file: %q, %+v", got, fourth.Stats())
	}
}

// TestSkipsGoRoot: a Go distribution's tree is the gobin source's go:toolchain, not a score
// of file: titles for its tools and scripts; a directory merely named go is walked.
func TestSkipsGoRoot(t *testing.T) {
	root := t.TempDir()
	write(t, root, "usr/local/go/VERSION", "go1.26.8\ntime 2026-11-01T00:00:00Z\n", 0o644)
	write(t, root, "usr/local/go/bin/go", "\x7fELF", 0o755)
	write(t, root, "usr/local/go/pkg/tool/linux_amd64/vet", "\x7fELF", 0o755)
	write(t, root, "usr/local/go/lib/time/update.bash", "#!/bin/bash\n", 0o755)
	write(t, root, "opt/gopher/bin/gopher", "#!/bin/sh\n", 0o755)
	write(t, root, "opt/go/bin/go", "#!/bin/sh\n", 0o755) // no VERSION: not a Go root
	got := names(collect(t, New(Options{Root: hostfs.Root(root)})).Software)
	if want := []string{"/opt/go/bin/go", "/opt/gopher/bin/gopher"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
