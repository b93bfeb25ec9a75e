//go:build !linux

package files

import (
	"io/fs"
	"os"
)

func statOf(fi fs.FileInfo) fileStat {
	return fileStat{Key: Key{Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}}
}

const openFlags = os.O_RDONLY
