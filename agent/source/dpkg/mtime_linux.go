package dpkg

import (
	"syscall"
	"time"
)

// mtime returns the modification time of the file name, without following a final link.
// It avoids os.Lstat's allocations: it runs once per installed package.
func mtime(name string) (time.Time, bool) {
	var st syscall.Stat_t
	if err := syscall.Lstat(name, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return time.Time{}, false
	}
	return time.Unix(st.Mtim.Sec, 0).UTC(), true
}
