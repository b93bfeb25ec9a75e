//go:build linux

package pacman

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"syscall"

	"github.com/onus-project/onus/agent/hostfs"
)

// db is the open local database directory. Entries are opened relative to it with openat and
// O_NOFOLLOW, so a link planted as a desc file cannot lead the agent out of the database, and
// each desc costs one open, two reads and a close, without allocating.
type db struct {
	dir *os.File
	fd  int
}

func openDB(path string) (*db, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%w: not a directory", ErrMalformed)
	}
	return &db{dir: f, fd: int(f.Fd())}, nil
}

func (d *db) Close() error { return d.dir.Close() }

func (d *db) list() ([]fs.DirEntry, bool, error) { return listDir(d.dir) }

// readFile reads the regular file rel (relative to the database) into buf, reusing its storage,
// and fails with hostfs.ErrTooLarge past limit bytes.
func (d *db) readFile(rel string, limit int, buf []byte) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO planted in the database must not hang the agent.
	fd, err := syscall.Openat(d.fd, rel, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if err != nil {
		return buf[:0], &fs.PathError{Op: "openat", Path: rel, Err: err}
	}
	defer syscall.Close(fd)
	buf = buf[:0]
	for {
		if len(buf) > limit {
			return buf[:0], fmt.Errorf("%s: %w (more than %d bytes)", rel, hostfs.ErrTooLarge, limit)
		}
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, max(cap(buf), 512))
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return buf[:0], &fs.PathError{Op: "read", Path: rel, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}
