//go:build !unix

package pypi

import "io/fs"

// owner returns nothing where files have no uid.
func owner(fs.FileInfo) (uint32, bool) { return 0, false }
