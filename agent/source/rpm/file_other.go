//go:build !linux

package rpm

import (
	"os"
)

func openRead(p string) (*os.File, error) { return os.Open(p) }
