package files

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/onus-project/onus/agent/source"
)

// The package databases change rarely, and reading every file list on each pass is most of
// a pass's cost (a Debian host has ~900 .list files): what the last read said of each
// candidate is kept with a stamp of the databases, and reused while the stamp is the same
// and no candidate is new. A package install or removal changes the stamp: dpkg rewrites
// its status file and renames .list files into info/, apk rewrites its installed file,
// pacman adds or removes a directory of local/, rpm writes its database files.

// stampPaths are the databases' files and directories whose stamps make up the stamp; the
// entries of the directories marked deep are stamped too (rpm's database files).
var stampPaths = []struct {
	path string
	deep bool
}{
	{"/var/lib/dpkg/status", false}, {dpkgInfo, false}, {apkInstalled, false}, {pacmanLocal, false},
	{"/var/lib/rpm", true}, {"/usr/lib/sysimage/rpm", true},
}

// The memo is kept in the state directory too, so that an agent started again (or a one-shot
// inventory) on unchanged databases does not read every file list either.
const (
	memoFile    = "files-owned.json"
	memoVersion = 1
	maxMemoFile = 16 << 20 // MaxCandidates paths of at most 4 KiB each, and more
)

// ownedMemo is what the last read of the package databases said of each candidate.
type ownedMemo struct {
	dir     string // the state directory; "" keeps the memo in memory only
	loaded  bool
	stamp   string
	owned   map[string]bool // by candidate path
	skipped int             // the records the read skipped, counted again on each reuse
}

// memoDoc is the memo as it is kept in the state directory.
type memoDoc struct {
	Version int             `json:"version"`
	Stamp   string          `json:"stamp"`
	Skipped int             `json:"skipped,omitempty"`
	Owned   map[string]bool `json:"owned"`
}

// load reads the memo kept in the state directory, once; a missing, unreadable or foreign
// one leaves the memo empty, which only costs reading the databases.
func (m *ownedMemo) load() {
	if m.loaded || m.dir == "" {
		return
	}
	m.loaded = true
	b, err := source.ReadState(m.dir, memoFile, maxMemoFile)
	if err != nil {
		return
	}
	var doc memoDoc
	if json.Unmarshal(b, &doc) != nil || doc.Version != memoVersion || doc.Owned == nil {
		return
	}
	m.stamp, m.owned, m.skipped = doc.Stamp, doc.Owned, doc.Skipped
}

// save keeps the memo in the state directory. A memo not written costs reading the
// databases again after a restart, no more.
func (m *ownedMemo) save() {
	if m.dir == "" {
		return
	}
	b, err := json.Marshal(memoDoc{Version: memoVersion, Stamp: m.stamp, Skipped: m.skipped, Owned: m.owned})
	if err == nil {
		_ = source.WriteState(m.dir, memoFile, b)
	}
}

// dbStamp returns the stamp of the package databases: the identity, size and times of each
// of stampPaths that exists.
func (s *Source) dbStamp() string {
	var b strings.Builder
	add := func(p string) {
		fi, err := s.root.Stat(p)
		if err != nil {
			return
		}
		st := statOf(fi)
		fmt.Fprintf(&b, "%s %d %d %d %d %d\n", p, st.Dev, st.Ino, st.Size, st.Mtime, st.Ctime)
	}
	for _, sp := range stampPaths {
		add(sp.path)
		if !sp.deep {
			continue
		}
		entries, err := s.root.ReadDir(sp.path)
		if err != nil {
			continue
		}
		for _, e := range entries {
			add(sp.path + "/" + e.Name())
		}
	}
	return b.String()
}

// reuse removes from cands the owned ones by the memo and reports true, when the memo
// answers for every candidate under the databases' current stamp.
func (m *ownedMemo) reuse(stamp string, cands map[string]*candidate) (removed int, ok bool) {
	m.load()
	if m.owned == nil || m.stamp != stamp {
		return 0, false
	}
	for p := range cands {
		if _, known := m.owned[p]; !known {
			return 0, false
		}
	}
	for p := range cands {
		if m.owned[p] {
			delete(cands, p)
			removed++
		}
	}
	return removed, true
}

// forget empties the memo, in memory and in the state directory.
func (m *ownedMemo) forget() {
	*m = ownedMemo{dir: m.dir, loaded: true}
	if m.dir != "" {
		_ = os.Remove(filepath.Join(m.dir, memoFile))
	}
}

// remember records what a read of the databases under stamp said: every path of before
// that is not in after was owned.
func (m *ownedMemo) remember(stamp string, before []string, after map[string]*candidate, skipped int) {
	m.stamp, m.skipped = stamp, skipped
	m.owned = make(map[string]bool, len(before))
	for _, p := range before {
		_, left := after[p]
		m.owned[p] = !left
	}
	m.save()
}
