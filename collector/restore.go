package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/fileutil"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"

	"github.com/onus-project/onus/collector/app"
	"github.com/onus-project/onus/collector/cli"
	"github.com/onus-project/onus/internal/store"
)

const (
	// restoreRevisionBump lifts the restored store's revision well above any a client saw
	// before, and marks the old ones compacted, so that a watcher (another replica) relists
	// rather than waiting for revisions that will never come (etcd's advice for restores).
	restoreRevisionBump = 1_000_000_000
)

func restore(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	snap := fs.String("snapshot", "", "the snapshot file (from onus-collector backup, or etcdctl snapshot save)")
	dataDir := fs.String("data-dir", "", "the collector's --data-dir to create (it must be missing or empty)")
	force := fs.Bool("force-replace", false, "move a non-empty --data-dir aside (to DIR.replaced-TIME) and restore in its place")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "onus-collector restore: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *snap == "" || *dataDir == "" {
		fmt.Fprintf(stderr, "onus-collector restore: --snapshot FILE and --data-dir DIR are required\n")
		return 2
	}
	res, err := restoreSnapshot(*snap, *dataDir, *force, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "onus-collector restore: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "restored %s (%s) into %s\n", *snap, res.info, res.dataDir)
	if res.replaced != "" {
		fmt.Fprintf(stdout, "the previous data dir was moved to %s (remove it once the collector runs well)\n", res.replaced)
	}
	fmt.Fprintf(stdout, "start the collector with --data-dir %s\n", res.dataDir)
	return 0
}

type restoreResult struct {
	info              cli.SnapshotInfo
	dataDir, replaced string
}

// restoreSnapshot makes dataDir a collector data directory holding the snapshot's store.
// The snapshot is verified first; the new directory is built beside dataDir and renamed into
// place, so a failed restore leaves dataDir as it was. A non-empty dataDir is refused unless
// force, which moves it aside, and never while a collector runs on it.
func restoreSnapshot(snap, dataDir string, force bool, now time.Time) (restoreResult, error) {
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return restoreResult{}, err
	}
	res := restoreResult{dataDir: dir}
	if res.info, err = cli.VerifySnapshot(snap); err != nil {
		return res, fmt.Errorf("refusing the snapshot: %w", err)
	}
	old, exists, empty, err := targetDir(dir, force)
	if err != nil {
		return res, err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return res, err
	}
	// Build beside the target, on the same file system, so the final rename is atomic.
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".restore-*")
	if err != nil {
		return res, err
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := restoreInto(snap, dir, tmp); err != nil {
		return res, err
	}
	if exists && old != nil {
		// Keep the owner of the directory being replaced (restoring as root for a collector
		// that runs as its own user).
		if st, ok := old.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 && (int(st.Uid) != 0 || int(st.Gid) != 0) {
			if err := chownTree(tmp, int(st.Uid), int(st.Gid)); err != nil {
				return res, err
			}
		}
	}
	if !empty {
		res.replaced = dir + ".replaced-" + now.UTC().Format("20060102T150405Z")
		if err := os.Rename(dir, res.replaced); err != nil {
			return res, fmt.Errorf("moving the old data dir aside: %w", err)
		}
	} else if exists {
		if err := os.Remove(dir); err != nil {
			return res, err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return res, err
	}
	done = true
	if d, err := os.Open(parent); err == nil {
		d.Sync()
		d.Close()
	}
	return res, nil
}

// targetDir looks at the data directory to restore into: whether it exists, and whether it
// is empty; one that is not empty is replaced only with force, and never while in use.
func targetDir(dir string, force bool) (old fs.FileInfo, exists, empty bool, err error) {
	old, err = os.Stat(dir)
	exists = err == nil
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, false, false, err
	case !old.IsDir():
		return nil, false, false, fmt.Errorf("--data-dir %s is not a directory", dir)
	}
	empty = true
	if exists {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, false, false, err
		}
		empty = len(entries) == 0
	}
	if !empty {
		if !force {
			return nil, false, false, fmt.Errorf("--data-dir %s is not empty: restore into a new directory, or give --force-replace to move it aside", dir)
		}
		if err := checkUnused(app.EmbeddedEtcdDir(dir)); err != nil {
			return nil, false, false, err
		}
	}
	return old, exists, empty, nil
}

// restoreInto restores the snapshot into tmp as the member store.StartEmbedded will run in
// the final directory dir.
func restoreInto(snap, dir, tmp string) error {
	name, peer, token := store.EmbeddedMember(app.EmbeddedEtcdDir(dir))
	err := snapshot.NewV3(zap.NewNop()).Restore(snapshot.RestoreConfig{
		SnapshotPath:        snap,
		Name:                name,
		OutputDataDir:       app.EmbeddedEtcdDir(tmp),
		PeerURLs:            []string{peer},
		InitialCluster:      name + "=" + peer,
		InitialClusterToken: token,
		RevisionBump:        restoreRevisionBump,
		MarkCompacted:       true,
	})
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

// checkUnused fails when an etcd server holds the store in etcdDir: a running collector
// locks its write-ahead log.
func checkUnused(etcdDir string) error {
	wals, err := filepath.Glob(filepath.Join(etcdDir, "member", "wal", "*.wal"))
	if err != nil {
		return err
	}
	for _, w := range wals {
		l, err := fileutil.TryLockFile(w, os.O_RDWR, 0)
		if errors.Is(err, fileutil.ErrLocked) {
			return fmt.Errorf("%s is in use (a collector runs on this data dir?): stop it before restoring", etcdDir)
		}
		if err != nil {
			return err
		}
		l.Close()
	}
	return nil
}

func chownTree(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
