package reporter

import (
	"errors"
	"io"

	"golang.org/x/sys/unix"
)

// lockHeld says whether some process holds a lock on the file at path that would stop a
// writer: dpkg, apt and rpm take fcntl locks on their lock files. An open file description
// (OFD) lock query sees both OFD and classic POSIX locks, of this process too; kernels
// before 3.15 only know F_GETLK. A missing file is not held.
func lockHeld(path string) (bool, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	defer unix.Close(fd)
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	err = unix.FcntlFlock(uintptr(fd), unix.F_OFD_GETLK, &lk)
	if errors.Is(err, unix.EINVAL) {
		lk = unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
		err = unix.FcntlFlock(uintptr(fd), unix.F_GETLK, &lk)
	}
	if err != nil {
		return false, err
	}
	return lk.Type != unix.F_UNLCK, nil
}
