package apk

import (
	"context"
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
)

// A FIFO in place of the database must be an error, not block the agent on open.
func TestCollectFIFO(t *testing.T) {
	root := t.TempDir()
	mkdir(t, filepath.Join(root, dbDir))
	if err := syscall.Mkfifo(filepath.Join(root, DBPath), 0o644); err != nil {
		t.Skip(err)
	}
	_, err := New(hostfs.Root(root)).Collect(context.Background())
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
}
