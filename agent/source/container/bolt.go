package container

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/onus-project/onus/agent/hostfs"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// viewBolt runs fn on the bolt database at the host path p, read only. The runtime that owns
// the database may hold its lock (containerd does as long as it runs): when the shared lock
// is not had within lockWait, the file, at most maxDB bytes, is copied and the copy read. A
// database bolt cannot make sense of fails, never panics the agent.
func viewBolt(root hostfs.Root, p string, fn func(*bolt.Tx) error) (err error) {
	rp, err := root.Resolve(p)
	if err != nil {
		return err
	}
	fi, err := os.Stat(rp)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", p)
	}
	if fi.Size() > maxDB {
		return fmt.Errorf("%s: %w (%d > %d bytes)", p, hostfs.ErrTooLarge, fi.Size(), maxDB)
	}
	db, err := bolt.Open(rp, 0, &bolt.Options{ReadOnly: true, Timeout: lockWait})
	if errors.Is(err, bolterrors.ErrTimeout) {
		var tmp string
		tmp, err = copyFile(rp, p)
		if err != nil {
			return err
		}
		defer os.Remove(tmp)
		db, err = bolt.Open(tmp, 0, &bolt.Options{ReadOnly: true, Timeout: lockWait})
	}
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	defer db.Close()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: corrupt database: %v", p, r)
		}
	}()
	return db.View(fn)
}

// copyFile copies the database at rp (host path p) to a temporary file, at most maxDB bytes.
func copyFile(rp, p string) (string, error) {
	src, err := os.Open(rp)
	if err != nil {
		return "", err
	}
	defer src.Close()
	dst, err := os.CreateTemp("", "onus-bolt-*.db")
	if err != nil {
		return "", err
	}
	n, err := io.Copy(dst, io.LimitReader(src, maxDB+1))
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > maxDB {
		err = fmt.Errorf("%s: %w", p, hostfs.ErrTooLarge)
	}
	if err != nil {
		os.Remove(dst.Name())
		return "", err
	}
	return dst.Name(), nil
}
