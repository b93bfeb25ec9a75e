package pacman

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
)

// A FIFO planted as a desc file must be skipped, not block the agent on open.
func TestCollectFIFODesc(t *testing.T) {
	root := t.TempDir()
	writeDesc(t, root, "zlib", "1:1.3.1-1")
	mkdir(t, filepath.Join(root, DBDir, "glibc-2.39-1"))
	if err := syscall.Mkfifo(filepath.Join(root, DBDir, "glibc-2.39-1", "desc"), 0o644); err != nil {
		t.Skip(err)
	}
	res, err := New(hostfs.Root(root)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Software) != 1 || res.Skipped != 1 {
		t.Fatalf("got %d packages, %d skipped; want 1, 1", len(res.Software), res.Skipped)
	}
}
