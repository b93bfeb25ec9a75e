//go:build !unix

package launchd

import "os"

// fileUID returns false: files have no uid here.
func fileUID(os.FileInfo) (int, bool) { return 0, false }
