//go:build unix

package pypi

import (
	"io/fs"
	"syscall"
)

// owner returns the uid owning the file fi describes.
func owner(fi fs.FileInfo) (uint32, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Uid, true
}
