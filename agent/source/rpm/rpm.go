// Package rpm reads the packages installed on rpm-based hosts (RHEL and its rebuilds, Fedora,
// Amazon Linux, SUSE) from rpm's database, in each of its three formats, without rpm, sqlite
// or Berkeley DB libraries and without ever writing to it: no lock is taken and no journal,
// -shm or -wal file is created.
//
// It looks, under the host root, in /usr/lib/sysimage/rpm (newer Fedora and openSUSE) and
// /var/lib/rpm (where /var/lib/rpm is often a symbolic link to the former), for:
//
//   - rpmdb.sqlite, and the committed transactions in rpmdb.sqlite-wal beside it: the sqlite
//     database of rpm >= 4.16 (Fedora 33+, RHEL 9 and its rebuilds);
//   - Packages.db: the ndb database (SUSE);
//   - Packages: the Berkeley DB hash database of older rpm (RHEL/CentOS 7 and 8, Amazon Linux 2).
//
// The first found in a directory, in that order, is read; when both directories hold a
// database of their own, the one modified last is read. The database is re-read only when its
// size, modification time or inode (or those of its WAL) change.
//
// Every installed package is reported except the gpg-pubkey pseudo packages: rpm keeps each
// imported signing key in its database as a package named gpg-pubkey, which is a key and not
// software, so they are left out without being counted as skipped. A package header that
// cannot be decoded is skipped and counted in Result.Skipped.
//
// Who installed each package, with which command, and whether it was asked for or came as a
// dependency, are read from dnf's records (dnf.go, dnf5state.go): dnf 4's
// /var/lib/dnf/history.sqlite, dnf 5's /usr/lib/sysimage/libdnf5/transaction_history.sqlite
// and its system state /usr/lib/sysimage/libdnf5/packages.toml, with the host's /etc/passwd
// to name the user; then, for the packages dnf says nothing of, from yum's yumdb on RHEL and
// CentOS 7 (yumdb.go): /var/lib/yum/yumdb, and from libzypp's on SUSE (zypp.go):
// /var/lib/zypp/AutoInstalled and /var/log/zypp/history. They are best effort: a record that is missing or cannot be read leaves
// the fields empty and never fails the source.
package rpm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
)

const sourceFormat = "rpm"

// ErrMalformed is wrapped by the errors of a database file that cannot be read as one.
var ErrMalformed = errors.New("malformed rpm database")

// The directories rpm keeps its database in.
const (
	sysimageDir = "/usr/lib/sysimage/rpm"
	varLibDir   = "/var/lib/rpm"
)

// dbDirs returns the database directories, the newer location first.
func dbDirs() [2]string { return [2]string{sysimageDir, varLibDir} }

type format int

const (
	formatSQLite format = iota
	formatNDB
	formatBDB
)

// dbFiles returns the database file of each format, in the order they are looked for.
func dbFiles() [3]string {
	return [3]string{formatSQLite: "rpmdb.sqlite", formatNDB: "Packages.db", formatBDB: "Packages"}
}

// Source reads rpm's database.
type Source struct {
	root hostfs.Root

	cache     source.Cache
	cachePath string // the database file the cache was read from
	mu        sync.Mutex
}

// New returns an rpm source reading under root.
func New(root hostfs.Root) *Source { return &Source{root: root} }

// Name implements source.Source.
func (*Source) Name() string { return "rpm" }

// PackageFormat implements source.PackageSource.
func (*Source) PackageFormat() string { return "rpm" }

// Locks implements source.Locker: rpm holds an fcntl lock on .rpm.lock in its database
// directory while it writes.
func (s *Source) Locks() []source.Lock {
	var out []source.Lock
	d := dbDirs()
	for _, p := range s.dirs(d[:]...) {
		out = append(out, source.Lock{Path: filepath.Join(p, ".rpm.lock"), Fcntl: true})
	}
	return out
}

// WatchPaths implements source.Watcher: the database directories, with their links resolved
// (rpm replaces files in them when it rebuilds the database), and dnf's and libzypp's
// (dnf.go, zypp.go), which change without rpm's database when dnf mark changes a reason.
func (s *Source) WatchPaths() []string {
	d := dbDirs()
	return s.dirs(d[0], d[1], path.Dir(dnf4HistoryPath), dnf5Dir, path.Dir(zyppAutoInstalledPath))
}

// dirs returns the directories under the root, their links resolved, each once.
func (s *Source) dirs(dirs ...string) []string {
	paths := make([]string, 0, len(dirs))
	for _, d := range dirs {
		p, err := s.root.Resolve(d)
		if err != nil {
			p = s.root.Path(d)
		}
		if !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
	}
	return paths
}

// database is one database file found under the root.
type database struct {
	format   format
	hostPath string // path on the host, for messages
	path     string // resolved path under the root
	info     fs.FileInfo
}

// find locates the database to read.
func (s *Source) find() (database, error) {
	var (
		found [2]database
		dirs  [2]string
		n     int
	)
	for i, dir := range dbDirs() {
		rdir, err := s.root.Resolve(dir)
		if err != nil {
			if hostfs.NotPresent(err) {
				continue
			}
			return database{}, err
		}
		if slices.Contains(dirs[:i], rdir) {
			continue // the same directory through a link
		}
		dirs[i] = rdir
		for f, name := range dbFiles() {
			p := rdir + "/" + name
			fi, err := os.Lstat(p)
			if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
				// Resolved inside the root, like every other link.
				if p, err = s.root.Resolve(dir + "/" + name); err == nil {
					fi, err = os.Stat(p)
				}
			}
			if err != nil {
				if hostfs.NotPresent(err) {
					continue
				}
				return database{}, err
			}
			if !fi.Mode().IsRegular() {
				continue
			}
			found[n] = database{format: format(f), hostPath: dir + "/" + name, path: p, info: fi}
			n++
			break
		}
	}
	switch {
	case n == 0:
		return database{}, source.ErrNotPresent
	case n == 2 && found[1].info.ModTime().After(found[0].info.ModTime()):
		return found[1], nil
	}
	return found[0], nil
}

// Collect implements source.Source.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	db, err := s.find()
	if err != nil {
		return res, fmt.Errorf("rpm: %w", err)
	}
	key := append([]source.Stamp{source.StampOf(db.info), {}}, infoStamps(s.root)...)
	var walSize int64
	if db.format == formatSQLite {
		if fi, err := os.Stat(db.path + "-wal"); err == nil && fi.Mode().IsRegular() {
			key[1], walSize = source.StampOf(fi), fi.Size()
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cachePath == db.path {
		if pkgs, skipped, ok := s.cache.Get(key); ok {
			res.Software, res.Skipped = pkgs, skipped
			return res, nil
		}
	}

	f, err := openRead(db.path)
	if err != nil {
		return res, fmt.Errorf("rpm: %w", err)
	}
	defer f.Close()
	var wal *os.File
	if walSize > 0 {
		// A WAL that vanished since the Stat was checkpointed into the database: read without.
		if wal, err = openRead(db.path + "-wal"); err == nil {
			defer wal.Close()
		}
	}
	pkgs, skipped, err := read(ctx, db.format, f, db.info.Size(), wal, walSize)
	if err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, fmt.Errorf("rpm: %s: %w", db.hostPath, err)
	}
	// What dnf and zypper record is added to the packages before they are cached.
	skipped += installInfo(s.root, pkgs)
	s.cache.Put(key, pkgs, skipped)
	s.cachePath = db.path
	res.Software, res.Skipped = slices.Clone(pkgs), skipped
	return res, nil
}

// read decodes every package of the database file f (size bytes) of format fm; wal is the
// sqlite WAL file (walSize bytes), or nil.
func read(ctx context.Context, fm format, f *os.File, size int64, wal *os.File, walSize int64) ([]model.Package, int, error) {
	var (
		pkgs    []model.Package
		skipped int
		h       header
		in      = make(source.Interner)
	)
	fn := func(blob []byte) error {
		if len(pkgs)%64 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := parseHeader(blob, &h); err != nil {
			skipped++
			return nil
		}
		if h.isPubkey() {
			return nil
		}
		pkgs = append(pkgs, model.Package{})
		h.toPackage(&pkgs[len(pkgs)-1], in)
		return nil
	}
	var (
		n   int
		err error
	)
	switch fm {
	case formatSQLite:
		if wal != nil {
			n, err = readSQLite(f, size, wal, walSize, fn)
		} else {
			n, err = readSQLite(f, size, nil, 0, fn)
		}
	case formatNDB:
		n, err = readNDB(f, size, fn)
	case formatBDB:
		n, err = readBDB(f, size, fn)
	}
	if err != nil {
		return nil, 0, err
	}
	sortPackages(pkgs)
	return slices.Clip(pkgs), skipped + n, nil
}

// sortPackages puts packages in the one package order (model.ComparePackages), so it does not
// depend on the database format.
func sortPackages(pkgs []model.Package) {
	slices.SortFunc(pkgs, model.ComparePackages)
}
