//go:build unix

package files

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// validState checks that what the source reports makes a report the collector accepts as it
// is: nothing a file's name holds may get a report refused.
func validState(t *testing.T, pkgs []model.Package) {
	t.Helper()
	st := protocol.State{Host: model.Host{ID: "h1", Hostname: "h1"}, Software: pkgs}
	before := len(st.Software)
	protocol.CleanState(&st)
	if len(st.Software) != before {
		t.Fatalf("cleaning dropped %d packages", before-len(st.Software))
	}
	for i := range pkgs {
		if !equalPackage(pkgs[i], st.Software[i]) {
			t.Errorf("cleaning changed %q: the source must report clean text", pkgs[i].Name)
		}
	}
}

func equalPackage(a, b model.Package) bool {
	return a.Name == b.Name && a.Version == b.Version && a.Location == b.Location && a.User == b.User
}

// TestHostileTree: a 4 GiB sparse file, an ELF header on a huge sparse file, symlink loops
// under /opt and as a unit's ExecStart=, links out of the root, a FIFO and a socket with exec
// bits, and names with control bytes and invalid UTF-8 cost bounded time and memory, are
// reported escaped or skipped, and never fail the pass.
func TestHostileTree(t *testing.T) {
	root := t.TempDir()
	write(t, root, "var/lib/dpkg/status", "", 0o644)
	// 4 GiB of nothing with an exec bit, and the same behind an ELF header.
	for _, name := range []string{"opt/big/bin/huge", "opt/big/bin/huge-elf"} {
		write(t, root, name, "", 0o755)
		if err := os.Truncate(filepath.Join(root, name), 4<<30); err != nil {
			t.Fatal(err)
		}
	}
	elfHead, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(root, "opt/big/bin/huge-elf"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(elfHead[:64], 0) // the header alone: its section table points into the zeros
	f.Close()
	// Symlink loops, a link out of the root, and a unit starting through the loop.
	os.MkdirAll(filepath.Join(root, "opt/loop"), 0o755)
	os.Symlink("../loop", filepath.Join(root, "opt/loop/again"))
	os.Symlink("self", filepath.Join(root, "opt/loop/self"))
	os.Symlink("/usr/bin", filepath.Join(root, "opt/loop/out"))
	os.Symlink("/", filepath.Join(root, "srv")) // a walk root that is a link out of the root
	write(t, root, "etc/systemd/system/loop.service", "[Service]\nExecStart=/opt/loop/self/x\nExecStartPre=/opt/loop/out/true\n", 0o644)
	// Not regular files, with exec bits.
	if err := syscall.Mkfifo(filepath.Join(root, "opt/loop/fifo"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Names a user can give a file.
	hostile := []string{"tab\there", "nl\nhere", "esc\x1b[31m", "bad\xff\xfeutf8", strings.Repeat("long", 62)}
	for _, n := range hostile {
		write(t, root, "opt/names/"+n, "#!/bin/sh\n", 0o755)
	}

	s := New(Options{Root: hostfs.Root(root)})
	start := time.Now()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	res := collect(t, s)
	runtime.ReadMemStats(&ms)
	took, alloc := time.Since(start), ms.TotalAlloc-before
	st := s.Stats()
	t.Logf("%v, %d KiB allocated, %+v", took, alloc>>10, st)
	if alloc > 64<<20 {
		t.Errorf("the pass allocated %d MiB", alloc>>20)
	}
	if st.TooLarge != 2 || st.HashedBytes > 1<<20 {
		t.Errorf("the 4 GiB files: %+v", st)
	}
	got := names(res.Software)
	for _, want := range []string{"/opt/big/bin/huge", "/opt/big/bin/huge-elf"} {
		i := slices.Index(got, want)
		if i < 0 {
			t.Fatalf("%s not reported: %q", want, got)
		}
		if p := res.Software[i]; p.Digest != "" || !strings.HasPrefix(p.Version, "unhashed:4294967296:") {
			t.Errorf("%s: digest %q version %q", want, p.Digest, p.Version)
		}
	}
	for _, p := range got {
		if strings.HasPrefix(p, "/opt/loop") || strings.HasPrefix(p, "/usr/bin") {
			t.Errorf("%s reported: a link was followed", p)
		}
	}
	escaped := 0
	for _, p := range got {
		if strings.HasPrefix(p, "/opt/names/") {
			escaped++
		}
	}
	// The 259-byte path is over MaxNameLen once escaped: skipped and counted.
	if escaped != len(hostile)-1 || res.Skipped < 1 {
		t.Errorf("%d of %d hostile names reported, %d skipped: %q", escaped, len(hostile), res.Skipped, got)
	}
	validState(t, res.Software)
}

// TestManyFiles: a data tree of many files under /srv costs a bounded walk: the pass stops at
// the caps, says so, and still sees the software of the other walk roots and of /srv's other
// directories. The caps are scaled down with the tree, which takes minutes to make at a
// million files: ONUS_MILLION_FILES=1 makes the million, with the default caps.
func TestManyFiles(t *testing.T) {
	n, opts := 4000, Options{MaxVisit: 600, MaxDirSize: 150}
	if os.Getenv("ONUS_MILLION_FILES") != "" {
		n, opts = 1_000_000, Options{}
	}
	root := t.TempDir()
	opts.Root = hostfs.Root(root)
	write(t, root, "var/lib/dpkg/status", "", 0o644)
	write(t, root, "opt/acme/bin/acmectl", "#!/bin/sh\n", 0o755)
	write(t, root, "srv/app/bin/serve", "#!/bin/sh\n", 0o755)
	data := filepath.Join(root, "srv/data")
	flat := n / 10 // a tenth in one directory of their own, the rest 1,000 a directory
	for i := 0; i < n; i++ {
		dir := data
		if i >= flat {
			dir = filepath.Join(data, "d"+strconv.Itoa(i/1000))
		}
		if i == 0 || i == flat || i >= flat && i%1000 == 0 {
			os.MkdirAll(dir, 0o755)
		}
		f, err := os.Create(filepath.Join(dir, strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	s := New(opts)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	start := time.Now()
	res := collect(t, s)
	took := time.Since(start)
	runtime.ReadMemStats(&ms)
	st := s.Stats()
	t.Logf("%d files: %v, %d KiB allocated, %+v", n, took, (ms.TotalAlloc-before)>>10, st)
	if !st.Truncated || st.Visited > 3*s.opts.MaxVisit || st.CutShort == 0 {
		t.Errorf("the walk was not bounded: %+v", st)
	}
	if got := names(res.Software); !slices.Contains(got, "/opt/acme/bin/acmectl") || !slices.Contains(got, "/srv/app/bin/serve") {
		t.Errorf("the other software was not seen: %q", got)
	}
	if res.Skipped < st.CutShort {
		t.Errorf("a walk cut short is counted as skipped: %d skipped, %+v", res.Skipped, st)
	}
}
