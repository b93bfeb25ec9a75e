//go:build !linux

package dpkg

import (
	"os"
	"path/filepath"
	"time"
)

type dir struct{ path string }

func openDir(path string) (*dir, error) { return &dir{path: path}, nil }

func (d *dir) close() {}

// mtime returns the modification time of the regular file name in d, not following links.
func (d *dir) mtime(name []byte) (time.Time, bool) {
	fi, err := os.Lstat(filepath.Join(d.path, string(name)))
	if err != nil || !fi.Mode().IsRegular() {
		return time.Time{}, false
	}
	return fi.ModTime().UTC().Truncate(time.Second), true
}
