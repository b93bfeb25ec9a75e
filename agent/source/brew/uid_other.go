//go:build !unix

package brew

import "os"

// fileUID returns false: files have no uid here.
func fileUID(os.FileInfo) (int, bool) { return 0, false }
