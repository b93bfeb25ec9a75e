//go:build unix

package launchd

import (
	"os"
	"syscall"
)

// fileUID returns the uid owning the file fi describes.
func fileUID(fi os.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
