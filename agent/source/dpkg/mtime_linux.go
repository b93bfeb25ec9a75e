package dpkg

import (
	"time"

	"golang.org/x/sys/unix"
)

// dir stats the files of one directory relative to its descriptor: the info directory has a
// file list per package, and this runs once per installed package.
type dir struct{ fd int }

func openDir(path string) (*dir, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return &dir{fd: fd}, nil
}

func (d *dir) close() { unix.Close(d.fd) }

// mtime returns the modification time of the regular file name in d, not following links.
func (d *dir) mtime(name []byte) (time.Time, bool) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, string(name), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return time.Time{}, false
	}
	return time.Unix(st.Mtim.Sec, 0).UTC(), true
}
