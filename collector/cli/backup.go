package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
)

// SnapshotInfo describes a verified etcd snapshot file.
type SnapshotInfo struct {
	// Revision is the store's revision when the snapshot was taken; Keys counts the keys
	// (Onus's and any other); DBBytes is the database's size, FileBytes the file's (the
	// database and its SHA-256).
	Revision  int64
	Keys      int
	DBBytes   int64
	FileBytes int64
	// Version is the storage version of the etcd server that wrote it.
	Version string
}

func (s SnapshotInfo) String() string {
	v := ""
	if s.Version != "" {
		v = ", etcd storage " + s.Version
	}
	return fmt.Sprintf("revision %d, %d keys, %d bytes (database %d bytes%s)", s.Revision, s.Keys, s.FileBytes, s.DBBytes, v)
}

// ErrBadSnapshot means a file is not a complete, intact etcd snapshot.
var ErrBadSnapshot = errors.New("not a complete etcd snapshot")

// VerifySnapshot checks an etcd snapshot file as etcd's restore does, and more: the file is
// a bbolt database followed by its SHA-256 (refused when truncated or corrupted), the
// database passes bbolt's consistency check, and its keys are counted.
func VerifySnapshot(path string) (SnapshotInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return SnapshotInfo{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return SnapshotInfo{}, err
	}
	if !fi.Mode().IsRegular() {
		return SnapshotInfo{}, fmt.Errorf("%s: %w: not a regular file", path, ErrBadSnapshot)
	}
	n := fi.Size()
	// etcd appends the SHA-256 of the database, whose size is a multiple of its page size
	// (itself a multiple of 512): anything else was cut short or is no snapshot.
	if n < 512+sha256.Size || n%512 != sha256.Size {
		return SnapshotInfo{}, fmt.Errorf("%s: %w: its size (%d bytes) is not a database followed by its SHA-256 (truncated, or not a snapshot)", path, ErrBadSnapshot, n)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, n-sha256.Size)); err != nil {
		return SnapshotInfo{}, err
	}
	sum := make([]byte, sha256.Size)
	if _, err := io.ReadFull(f, sum); err != nil {
		return SnapshotInfo{}, err
	}
	if !bytes.Equal(sum, h.Sum(nil)) {
		return SnapshotInfo{}, fmt.Errorf("%s: %w: SHA-256 mismatch, the file is corrupted", path, ErrBadSnapshot)
	}
	st, err := snapshot.NewV3(zap.NewNop()).Status(path)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("%s: %w: %v", path, ErrBadSnapshot, err)
	}
	return SnapshotInfo{Revision: st.Revision, Keys: st.TotalKey, DBBytes: st.TotalSize, FileBytes: n, Version: st.Version}, nil
}

// Backup saves a snapshot of the collector's store to out: it streams it into a temporary
// file beside out, syncs it, verifies it (see VerifySnapshot) and only then renames it to
// out, so that out is either the previous file or a complete, verified snapshot. The
// client's timeout bounds each stall of the transfer, not the whole of it: a large store
// takes a while.
func (c *Client) Backup(out string) (SnapshotInfo, error) {
	dir, base := filepath.Split(out)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.part")
	if err != nil {
		return SnapshotInfo{}, err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	stall := c.HTTP.Timeout
	if stall <= 0 {
		stall = 2 * time.Minute
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	timer := time.AfterFunc(stall, cancel)
	defer timer.Stop()
	req, err := http.NewRequestWithContext(ctx, "GET", c.Server+"/api/v1/admin/snapshot", nil)
	if err != nil {
		return SnapshotInfo{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	hc := *c.HTTP
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return SnapshotInfo{}, stalled(ctx, err, stall)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return SnapshotInfo{}, apiError(req, resp)
	}
	n, err := io.Copy(tmp, &progressReader{r: resp.Body, progress: func() { timer.Reset(stall) }})
	if err != nil {
		err = stalled(ctx, err, stall)
		return SnapshotInfo{}, fmt.Errorf("snapshot transfer failed after %d bytes: %w", n, err)
	}
	if err := tmp.Sync(); err != nil {
		return SnapshotInfo{}, err
	}
	if err := tmp.Close(); err != nil {
		return SnapshotInfo{}, err
	}
	info, err := VerifySnapshot(tmp.Name())
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("the collector's snapshot failed verification, %s is unchanged: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return SnapshotInfo{}, err
	}
	done = true
	return info, syncDir(dir)
}

// progressReader calls progress after every read that returned data.
type progressReader struct {
	r        io.Reader
	progress func()
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.progress()
	}
	return n, err
}

// stalled names a transfer cancelled for want of progress.
func stalled(ctx context.Context, err error, stall time.Duration) error {
	if ctx.Err() != nil {
		return fmt.Errorf("no progress for %s (--timeout): %w", stall, err)
	}
	return err
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
