package pypi

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/agent/source/files"
)

// The distribution's own site directories (/usr/lib/python3/dist-packages on Debian,
// /usr/lib/python3.X/site-packages and /usr/lib64/... elsewhere) hold the distributions of
// its python3-* packages, which the package database's source reports. A dist-info or
// egg-info there that a package database lists is not read: dpkg's info/*.list, apk's
// installed database, pacman's local/*/files. rpm's database is not read: where it exists,
// the distribution's site directories are not read at all (Fedora's and RHEL's pip install
// into /usr/local). What the databases list is kept while none of them changed, in memory
// and in the state directory (pypi-owned.json), so a restarted agent does not read every
// file list again.

const (
	dpkgInfo     = "/var/lib/dpkg/info"
	apkInstalled = "/lib/apk/db/installed"
	pacmanLocal  = "/var/lib/pacman/local"
)

// stampPaths change when a package is installed or removed: dpkg renames .list files into
// info/ and rewrites its status, apk rewrites its database, pacman adds or removes a
// directory of local/.
var stampPaths = []string{"/var/lib/dpkg/status", dpkgInfo, apkInstalled, pacmanLocal}

// rpmDatabases are the files of an rpm database, in any of its three formats.
var rpmDatabases = []string{
	"/var/lib/rpm/rpmdb.sqlite", "/var/lib/rpm/Packages.db", "/var/lib/rpm/Packages",
	"/usr/lib/sysimage/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/Packages.db", "/usr/lib/sysimage/rpm/Packages",
}

// ownedSet is what the package databases list of the distributions' metadata: the paths of
// dist-info and egg-info directories and egg-info files. all says that every one in the
// distribution's site directories is taken as owned (an rpm host, or a database that could
// not be read).
type ownedSet struct {
	paths map[string]bool
	all   bool
}

func (o ownedSet) owns(p string) bool { return o.all || o.paths[p] }

// owned returns what the package databases list, read again only when their stamp changed.
// skipped is 1 when a database could not be read.
func (s *Source) owned(ctx context.Context) (ownedSet, int) {
	for _, p := range rpmDatabases {
		if s.root.Exists(p) {
			return ownedSet{all: true}, 0
		}
	}
	stamp := s.dbStamp()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loadMemo()
	if s.memo.paths != nil && s.memo.stamp == stamp {
		return ownedSet{paths: s.memo.paths}, 0
	}
	paths := map[string]bool{}
	add := func(b []byte) {
		if p, ok := metadataPath(string(b)); ok {
			paths[p] = true
		}
	}
	if err := files.ListedPaths(ctx, s.root, add); err != nil {
		return ownedSet{all: true}, 1
	}
	s.memo.stamp, s.memo.paths = stamp, paths
	s.saveMemo()
	return ownedSet{paths: paths}, 0
}

// The memo is kept in the state directory too, so that an agent started again (or a one-shot
// inventory) on unchanged databases does not read every file list.
const (
	memoFile    = "pypi-owned.json"
	memoVersion = 1
	maxMemoFile = 16 << 20
)

type memoDoc struct {
	Version int      `json:"version"`
	Stamp   string   `json:"stamp"`
	Paths   []string `json:"paths"`
}

// loadMemo reads the memo kept in the state directory, once; a missing, unreadable or
// foreign one leaves the memo empty, which only costs reading the databases.
func (s *Source) loadMemo() {
	if s.memo.loaded || s.stateDir == "" {
		return
	}
	s.memo.loaded = true
	b, err := source.ReadState(s.stateDir, memoFile, maxMemoFile)
	if err != nil {
		return
	}
	var doc memoDoc
	if json.Unmarshal(b, &doc) != nil || doc.Version != memoVersion || doc.Stamp == "" {
		return
	}
	s.memo.stamp, s.memo.paths = doc.Stamp, make(map[string]bool, len(doc.Paths))
	for _, p := range doc.Paths {
		s.memo.paths[p] = true
	}
}

// saveMemo keeps the memo in the state directory; a memo not written costs reading the
// databases again after a restart, no more.
func (s *Source) saveMemo() {
	if s.stateDir == "" {
		return
	}
	doc := memoDoc{Version: memoVersion, Stamp: s.memo.stamp, Paths: make([]string, 0, len(s.memo.paths))}
	for p := range s.memo.paths {
		doc.Paths = append(doc.Paths, p)
	}
	slices.Sort(doc.Paths)
	if b, err := json.Marshal(doc); err == nil {
		_ = source.WriteState(s.stateDir, memoFile, b)
	}
}

// metadataPath returns the dist-info or egg-info a listed path is or is in.
func metadataPath(p string) (string, bool) {
	p = strings.TrimSuffix(p, "/")
	for _, suffix := range []string{".dist-info", ".egg-info"} {
		for i := 0; ; {
			j := strings.Index(p[i:], suffix)
			if j < 0 {
				break
			}
			end := i + j + len(suffix)
			if end == len(p) || p[end] == '/' {
				return p[:end], true
			}
			i = end
		}
	}
	return "", false
}

// dbStamp identifies the state of the package databases: the size and times of stampPaths.
func (s *Source) dbStamp() string {
	var b strings.Builder
	for _, p := range stampPaths {
		if fi, err := s.root.Stat(p); err == nil {
			fmt.Fprintf(&b, "%s %d %d %v\n", p, fi.Size(), fi.ModTime().UnixNano(), fi.Mode())
		}
	}
	return b.String()
}
