package files

import (
	"io/fs"
	"os"
	"syscall"
)

// statOf returns what identifies one state of a file's content and whose the file is.
func statOf(fi fs.FileInfo) fileStat {
	st := fileStat{Key: Key{Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}}
	if s, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.Dev, st.Ino = uint64(s.Dev), s.Ino
		st.Ctime = s.Ctim.Nano()
		st.UID, st.HasUID = s.Uid, true
	}
	return st
}

// openFlags open a file for reading without following a link the last element may have
// become, without blocking on a FIFO swapped in since the Lstat, and without making a
// terminal the agent's controlling one.
const openFlags = os.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_NOCTTY
