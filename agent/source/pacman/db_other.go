//go:build !linux

package pacman

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/onus-project/onus/agent/hostfs"
)

// db is the open local database directory, read through an os.Root so that a link in the
// database cannot lead the agent out of it.
type db struct{ root *os.Root }

func openDB(path string) (*db, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: not a directory", ErrMalformed)
	}
	r, err := os.OpenRoot(path)
	if err != nil {
		return nil, err
	}
	return &db{root: r}, nil
}

func (d *db) Close() error { return d.root.Close() }

func (d *db) list() ([]fs.DirEntry, bool, error) {
	f, err := d.root.Open(".")
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	return listDir(f)
}

func (d *db) readFile(rel string, limit int, buf []byte) ([]byte, error) {
	f, err := d.root.Open(rel)
	if err != nil {
		return buf[:0], err
	}
	defer f.Close()
	buf = buf[:0]
	for {
		if len(buf) > limit {
			return buf[:0], fmt.Errorf("%s: %w (more than %d bytes)", rel, hostfs.ErrTooLarge, limit)
		}
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, max(cap(buf), 512))
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf[:0], err
		}
	}
}
