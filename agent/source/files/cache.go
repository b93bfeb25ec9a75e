package files

import (
	"encoding/json"

	"github.com/onus-project/onus/agent/source"
)

// Key identifies one state of a file's content: the same device, inode, size, modification
// and change times mean the same bytes (a write changes the times; replacing the file by a
// rename changes the inode; chmod, chown and link count changes move ctime too, which only
// costs a needless hash).
type Key struct {
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime_ns"`
	Ctime int64  `json:"ctime_ns"`
}

// fileStat is a Key and the owner of the file.
type fileStat struct {
	Key
	UID    uint32
	HasUID bool
}

// Meta is what was learnt of one file's content: its digest and what the binary declares.
type Meta struct {
	// Digest is "sha256:<hex>", "" when the file was not hashed.
	Digest string `json:"digest,omitempty"`
	// TooLarge: the file was over the size cap and is not hashed.
	TooLarge bool `json:"too_large,omitempty"`
	// AppImage: the file is an AppImage (type 1 or 2).
	AppImage bool `json:"appimage,omitempty"`
	// GoModule and GoVersion are the main module of a Go binary's build information, GoPath
	// its main package.
	GoModule  string `json:"go_module,omitempty"`
	GoVersion string `json:"go_version,omitempty"`
	GoPath    string `json:"go_path,omitempty"`
	// Note is the ELF .note.package metadata (systemd's package notes).
	Note *PackageNote `json:"note,omitempty"`
}

// cacheFile is the name of the persisted cache in the state directory.
const cacheFile = "files-digests.json"

// maxCacheFile bounds the persisted cache read back: 50,000 entries take ~15 MiB.
const maxCacheFile = 64 << 20

// cacheVersion changes when what Meta holds for a file changes meaning.
const cacheVersion = 2

type cacheDoc struct {
	Version int          `json:"version"`
	Entries []cacheEntry `json:"entries"`
}

type cacheEntry struct {
	Key  Key  `json:"key"`
	Meta Meta `json:"meta"`
}

// hashCache keeps Meta per Key: the entries of the last pass, and the ones this pass used or
// made, which become the next pass's. It is used by one Collect at a time.
type hashCache struct {
	dir     string // the state directory; "" keeps the cache in memory only
	loaded  bool
	prev    map[Key]Meta
	next    map[Key]Meta
	changed bool
}

func (c *hashCache) begin() {
	if !c.loaded {
		c.loaded = true
		c.prev = c.load()
	}
	c.next = make(map[Key]Meta, len(c.prev))
	c.changed = false
}

// get returns the Meta of a file in state k, and keeps it for the next pass.
func (c *hashCache) get(k Key) (Meta, bool) {
	m, ok := c.prev[k]
	if ok {
		c.next[k] = m
	}
	return m, ok
}

func (c *hashCache) put(k Key, m Meta) {
	c.next[k] = m
	c.changed = true
}

// end makes this pass's entries the next pass's, and writes them to the state directory when
// they differ from what it holds. A failed write only costs hashing again after a restart.
func (c *hashCache) end() error {
	if len(c.next) != len(c.prev) {
		c.changed = true
	}
	c.prev, c.next = c.next, nil
	if !c.changed || c.dir == "" {
		return nil
	}
	doc := cacheDoc{Version: cacheVersion, Entries: make([]cacheEntry, 0, len(c.prev))}
	for k, m := range c.prev {
		doc.Entries = append(doc.Entries, cacheEntry{k, m})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return source.WriteState(c.dir, cacheFile, b)
}

// load reads the persisted cache; a missing, unreadable or foreign one is an empty cache.
func (c *hashCache) load() map[Key]Meta {
	out := make(map[Key]Meta)
	if c.dir == "" {
		return out
	}
	b, err := source.ReadState(c.dir, cacheFile, maxCacheFile)
	if err != nil {
		return out
	}
	var doc cacheDoc
	if json.Unmarshal(b, &doc) != nil || doc.Version != cacheVersion {
		return out
	}
	for _, e := range doc.Entries {
		out[e.Key] = e.Meta
	}
	return out
}
