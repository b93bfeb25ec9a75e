package rpm

import (
	"io/fs"
	"os"
	"syscall"
)

// openRead opens a database file read-only without updating its access time where the
// agent may (it owns the file or has CAP_FOWNER), so that reading leaves no trace on it.
func openRead(p string) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOATIME, 0)
	if err == nil {
		return f, nil
	}
	return os.Open(p)
}

// inode returns fi's inode number: rpm --rebuilddb replaces the file.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
