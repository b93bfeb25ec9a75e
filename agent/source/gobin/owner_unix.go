//go:build unix

package gobin

import "syscall"

// uidOf returns the uid owning the file whose FileInfo.Sys() is sys.
func uidOf(sys any) (uint32, bool) {
	st, ok := sys.(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Uid, true
}
