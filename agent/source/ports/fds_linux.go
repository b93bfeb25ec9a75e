package ports

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// findOwners fills owners (socket inode → PID, all 0 on entry) from the descriptor links of
// the processes under /proc, lowest PID first so a socket shared by several processes gets
// the lowest, and stops once every inode has an owner. It returns how many processes'
// descriptors could not be read.
//
// /proc/<pid>/fd/* are magic links: they are read with readlink and never resolved, so the
// paths are joined to the root with Path, not Resolve.
func (s *Source) findOwners(ctx context.Context, owners map[uint64]int) (int, error) {
	if len(owners) == 0 {
		return 0, nil
	}
	procDir := s.root.Path("/proc")
	d, err := os.Open(procDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return 0, err
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if n[0] < '0' || n[0] > '9' {
			continue
		}
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)

	remaining := len(owners)
	unreadable := 0
	link := make([]byte, 128)
	for i, pid := range pids {
		if i%64 == 0 && ctx.Err() != nil {
			return unreadable, ctx.Err()
		}
		found, err := scanFDs(procDir+"/"+strconv.Itoa(pid)+"/fd", pid, owners, link)
		// Other errors mean the process exited since /proc was listed.
		if errors.Is(err, fs.ErrPermission) {
			unreadable++
		}
		if remaining -= found; remaining <= 0 {
			break
		}
	}
	return unreadable, nil
}

// scanFDs reads the descriptor links in dir and records pid as the owner of every wanted
// socket inode that has none yet. It returns how many it recorded.
func scanFDs(dir string, pid int, owners map[uint64]int, link []byte) (int, error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	dfd := int(f.Fd())
	found := 0
	for {
		names, err := f.Readdirnames(256)
		for _, name := range names {
			n, err := unix.Readlinkat(dfd, name, link)
			if err != nil {
				continue // closed since it was listed
			}
			ino, ok := socketInode(link[:n])
			if !ok {
				continue
			}
			if owner, wanted := owners[ino]; wanted && owner == 0 {
				owners[ino] = pid
				found++
			}
		}
		if err == io.EOF {
			return found, nil
		}
		if err != nil {
			return found, err
		}
	}
}

// socketInode parses a descriptor link "socket:[12345]".
func socketInode(l []byte) (uint64, bool) {
	const prefix = "socket:["
	if len(l) < len(prefix)+2 || !bytes.HasPrefix(l, []byte(prefix)) || l[len(l)-1] != ']' {
		return 0, false
	}
	var v uint64
	for _, c := range l[len(prefix) : len(l)-1] {
		if c < '0' || c > '9' || v > (1<<64-1)/10-1 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}
