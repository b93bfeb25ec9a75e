package source

import (
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/onus-project/onus/internal/model"
)

// Stamp identifies one state of a file: a package manager that commits by writing a new file
// and renaming it over the old one changes the inode even when size and time look the same.
// The zero Stamp stands for a file that does not exist.
type Stamp struct {
	Size  int64
	Mtime time.Time
	Ino   uint64
}

// StampOf returns fi's stamp; a nil fi gives the zero Stamp.
func StampOf(fi fs.FileInfo) Stamp {
	if fi == nil {
		return Stamp{}
	}
	return Stamp{Size: fi.Size(), Mtime: fi.ModTime(), Ino: inode(fi)}
}

// Cache keeps the packages a source read from its database, with the stamps of the files it
// read them from, so that an unchanged database is not parsed again. It is safe for
// concurrent use; the zero value is empty.
type Cache struct {
	mu      sync.Mutex
	key     []Stamp
	pkgs    []model.Package
	skipped int
	valid   bool
}

// Get returns a copy of the cached packages if key equals the stamps they were read with.
func (c *Cache) Get(key []Stamp) (pkgs []model.Package, skipped int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid || !slices.Equal(c.key, key) {
		return nil, 0, false
	}
	return slices.Clone(c.pkgs), c.skipped, true
}

// Put keeps pkgs, read from files with stamps key. The caller must not change pkgs afterwards.
func (c *Cache) Put(key []Stamp, pkgs []model.Package, skipped int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.key, c.pkgs, c.skipped, c.valid = slices.Clone(key), pkgs, skipped, true
}

// MergeCopies sorts the packages of a source that finds one title in several places (the
// same gem in two gem directories, one crate in two cargo roots) and keeps one per package
// key: the first in location order, counting the others as its copies. It returns nil for
// no packages.
func MergeCopies(pkgs []model.Package) []model.Package {
	slices.SortFunc(pkgs, func(a, b model.Package) int {
		if c := model.ComparePackages(a, b); c != 0 {
			return c
		}
		return strings.Compare(a.Location, b.Location)
	})
	out := pkgs[:0]
	for _, p := range pkgs {
		if n := len(out); n > 0 && model.ComparePackages(out[n-1], p) == 0 {
			out[n-1].Copies++
			continue
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
