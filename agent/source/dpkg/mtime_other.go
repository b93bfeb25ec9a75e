//go:build !linux

package dpkg

import (
	"os"
	"time"
)

// mtime returns the modification time of the file name, without following a final link.
func mtime(name string) (time.Time, bool) {
	fi, err := os.Lstat(name)
	if err != nil || !fi.Mode().IsRegular() {
		return time.Time{}, false
	}
	return fi.ModTime().UTC().Truncate(time.Second), true
}
