package rpm

import (
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
