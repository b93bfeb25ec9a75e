package reporter

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
)

// lockPoll is how often a held package manager lock is looked at again.
const lockPoll = 250 * time.Millisecond

// watcher turns changes in the package databases' directories into one signal per burst:
// after Debounce of quiet, and once the package manager no longer holds its lock, or
// LockWait after the burst's first change at the latest.
type watcher struct {
	fsw      *fsnotify.Watcher
	log      *slog.Logger
	debounce time.Duration
	lockWait time.Duration

	mu      sync.Mutex
	wanted  map[string][]string // directory → sources, watched or not (yet)
	watched map[string]bool
	locks   map[string][]source.Lock // source → its package manager's locks
}

// newWatcher prepares watches for the directories of the paths each source named.
// A path that is a directory is watched; a file is watched through its directory (dpkg
// renames status-new over status); a path that does not exist yet is watched once it does
// (see refresh). locks are, per source, its package manager's locks (see source.Locker).
func newWatcher(paths map[string][]string, locks map[string][]source.Lock, root hostfs.Root, debounce, lockWait time.Duration, log *slog.Logger) (*watcher, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &watcher{fsw: fsw, log: log, debounce: debounce, lockWait: lockWait,
		wanted: map[string][]string{}, watched: map[string]bool{}, locks: map[string][]source.Lock{}}
	for src, ps := range paths {
		for _, p := range ps {
			p = underRoot(root, p)
			dir := p
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				dir = filepath.Dir(p)
			}
			if !slices.Contains(w.wanted[dir], src) {
				w.wanted[dir] = append(w.wanted[dir], src)
			}
		}
	}
	for src, ls := range locks {
		for _, l := range ls {
			w.locks[src] = append(w.locks[src], source.Lock{Path: underRoot(root, l.Path), Fcntl: l.Fcntl})
		}
	}
	return w, nil
}

// underRoot returns p under the host root. Sources name their watch paths with the root
// joined; a host-absolute path outside the root is taken as one that is not.
func underRoot(root hostfs.Root, p string) string {
	p = filepath.Clean(p)
	r := filepath.Clean(string(root))
	if r == "/" || r == "." || p == r || strings.HasPrefix(p, r+"/") {
		return p
	}
	return root.Path(p)
}

// refresh watches the wanted directories that exist and are not watched yet (they did not
// exist before, or were removed and made again).
func (w *watcher) refresh() {
	w.mu.Lock()
	defer w.mu.Unlock()
	current := map[string]bool{}
	for _, p := range w.fsw.WatchList() {
		current[p] = true
	}
	for dir := range w.wanted {
		if current[dir] {
			continue
		}
		delete(w.watched, dir)
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() {
			continue
		}
		if err := w.fsw.Add(dir); err != nil {
			w.log.Warn("cannot watch a package database directory", "dir", dir, "err", err)
			continue
		}
		w.watched[dir] = true
		w.log.Debug("watching", "dir", dir, "sources", w.wanted[dir])
	}
}

// sourcesOf returns the sources a change of the file name concerns.
func (w *watcher) sourcesOf(name string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append(slices.Clone(w.wanted[filepath.Dir(name)]), w.wanted[name]...)
}

func (w *watcher) close() { w.fsw.Close() }

// run signals changed (without blocking: one pending signal is enough) after each burst of
// changes, until ctx ends or the watcher is closed.
func (w *watcher) run(ctx context.Context, changed chan<- struct{}) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var first time.Time
	busy := map[string]bool{} // sources changed in this burst
	arm := func(d time.Duration) {
		if left := w.lockWait - time.Since(first); left < d {
			d = max(left, 0)
		}
		timer.Reset(d)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			srcs := w.sourcesOf(ev.Name)
			if len(srcs) == 0 || ev.Op == fsnotify.Chmod {
				continue
			}
			if first.IsZero() {
				first = time.Now()
			}
			for _, s := range srcs {
				busy[s] = true
			}
			arm(w.debounce)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			w.log.Warn("package database watch", "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Changes were lost: read everything.
				if first.IsZero() {
					first = time.Now()
				}
				arm(w.debounce)
			}
		case <-timer.C:
			if held := w.held(busy); held != "" && time.Since(first) < w.lockWait {
				w.log.Debug("package manager at work; waiting", "lock", held)
				arm(lockPoll)
				continue
			}
			first = time.Time{}
			clear(busy)
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}
}

// held returns a lock one of the sources' package managers holds, or "".
func (w *watcher) held(srcs map[string]bool) string {
	for src := range srcs {
		for _, l := range w.locks[src] {
			if l.Fcntl {
				if h, err := lockHeld(l.Path); err == nil && h {
					return l.Path
				}
				continue
			}
			if _, err := os.Lstat(l.Path); err == nil {
				return l.Path
			}
		}
	}
	return ""
}
