// Package pacman reads the packages installed on Arch Linux and its derivatives from pacman's
// local database.
//
// It reads, under the host root: the directory listing of /var/lib/pacman/local, the
// database version in /var/lib/pacman/local/ALPM_DB_VERSION, and the desc file of each package,
// /var/lib/pacman/local/<name>-<version>/desc. It never reads the packages' files or mtree
// files, which hold their file lists and are much larger.
//
// Each package directory costs one open and one read of a desc file of a few hundred bytes. A
// directory without a readable, well-formed desc, or whose desc names another package than the
// directory does, is skipped and counted, as pacman itself refuses such an entry.
package pacman

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
)

const (
	// DBDir is the local database: one directory per installed package.
	DBDir       = "/var/lib/pacman/local"
	versionFile = "ALPM_DB_VERSION"
	// dbVersion is the newest local database layout known (pacman 4.2 and later write 9).
	dbVersion    = 9
	maxDesc      = 1 << 20 // a desc file is ~1 KiB; the longest in Arch's repositories is ~20 KiB
	maxPackages  = 1 << 17 // a large desktop has ~3,000; more entries than this are not read
	maxFieldLen  = 4096    // longest value kept; longer ones are cut at a rune boundary
	sourceFormat = "pacman"
)

var (
	// ErrMalformed is wrapped by the errors of a database that is not a pacman database at all.
	ErrMalformed = errors.New("malformed pacman database")
	// ErrUnsupportedVersion is wrapped when ALPM_DB_VERSION names a layout newer than this
	// package knows, which it would risk misreading.
	ErrUnsupportedVersion = errors.New("unsupported pacman database version")
)

// Source reads pacman's local database.
type Source struct {
	root hostfs.Root
}

// New returns a pacman source reading under root.
func New(root hostfs.Root) *Source { return &Source{root: root} }

// Name implements source.Source.
func (*Source) Name() string { return "pacman" }

// PackageFormat implements source.PackageSource.
func (*Source) PackageFormat() string { return "pacman" }

// Locks implements source.Locker: pacman creates db.lck beside its local database for the
// length of a transaction.
func (s *Source) Locks() []source.Lock {
	return []source.Lock{{Path: filepath.Join(filepath.Dir(s.root.Path(DBDir)), "db.lck")}}
}

// WatchPaths implements source.Watcher: pacman adds and removes a directory in the local
// database for every package it installs, upgrades or removes. Its log (log.go) is written in
// the same transaction and needs no watch of its own.
func (s *Source) WatchPaths() []string { return []string{s.root.Path(DBDir)} }

// Collect implements source.Source. Packages are returned sorted by name.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	dir, err := s.root.Resolve(DBDir)
	if err != nil {
		return res, fmt.Errorf("pacman: %s: %w", DBDir, err)
	}
	d, err := openDB(dir)
	if err != nil {
		if errors.Is(err, ErrMalformed) {
			return res, fmt.Errorf("pacman: %s: %w", DBDir, err)
		}
		if hostfs.NotPresent(err) {
			return res, fmt.Errorf("pacman: %s: %w", DBDir, source.ErrNotPresent)
		}
		return res, fmt.Errorf("pacman: %w", err)
	}
	defer d.Close()
	buf := make([]byte, 0, 4096)
	if err := checkVersion(d, buf); err != nil {
		return res, fmt.Errorf("pacman: %s: %w", path.Join(DBDir, versionFile), err)
	}
	entries, truncated, err := d.list()
	if err != nil {
		return res, fmt.Errorf("pacman: %s: %w", DBDir, err)
	}
	if truncated {
		// Counted, not read: a database this large is broken or hostile.
		res.Skipped++
	}

	res.Software = make([]model.Package, 0, len(entries))
	in := make(source.Interner)
	for i, e := range entries {
		if i%64 == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
		switch t := e.Type(); {
		case t.IsDir():
		case t&fs.ModeSymlink != 0:
			res.Skipped++ // pacman makes no links here; a link is not a package entry
			continue
		default:
			continue // ALPM_DB_VERSION, editor leftovers
		}
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		buf, err = d.readFile(name+"/desc", maxDesc, buf)
		if err != nil {
			res.Skipped++
			continue
		}
		p, ok := parseDesc(buf, name, in)
		if !ok {
			res.Skipped++
			continue
		}
		res.Software = append(res.Software, p)
	}
	if len(res.Software) == 0 && res.Skipped > 0 {
		return res, fmt.Errorf("pacman: %s: %w: no valid package entry, %d malformed", DBDir, ErrMalformed, res.Skipped)
	}
	slices.SortFunc(res.Software, model.ComparePackages)
	res.Skipped += logInfo(s.root, res.Software)
	return res, nil
}

// listDir lists a directory, up to maxPackages entries, in directory order.
func listDir(f *os.File) (entries []fs.DirEntry, truncated bool, err error) {
	for {
		// In batches: File.ReadDir(n) allocates room for n entries up front.
		batch, err := f.ReadDir(256)
		entries = append(entries, batch...)
		if err == io.EOF {
			return entries, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		if len(entries) > maxPackages {
			return entries[:maxPackages], true, nil
		}
	}
}

// checkVersion reads ALPM_DB_VERSION. Databases older than pacman 4.2 have none and are read
// the same way.
func checkVersion(d *db, buf []byte) error {
	b, err := d.readFile(versionFile, 32, buf)
	if hostfs.NotPresent(err) {
		return nil
	}
	if errors.Is(err, hostfs.ErrTooLarge) {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err != nil {
		return err
	}
	v, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || v < 0 {
		return fmt.Errorf("%w: version %q", ErrMalformed, b)
	}
	if v > dbVersion {
		return fmt.Errorf("%w: %d (newest known: %d)", ErrUnsupportedVersion, v, dbVersion)
	}
	return nil
}

// desc holds the raw values of the desc sections that the inventory keeps.
type desc struct {
	name, version, base, desc, arch, installDate, packager, size []byte
	firstGroup, reason                                           []byte
	licenses                                                     [][]byte
}

// parseDesc parses a desc file: sections that start with a %KEY% line and hold one value per
// line up to a blank line. It returns false when the entry is malformed: no name or version, a
// name or version pacman would not accept, or, when dir is not empty, a name and version that
// do not match the entry's directory name, dir, which pacman refuses too.
func parseDesc(data []byte, dir string, in source.Interner) (model.Package, bool) {
	var d desc
	var lics [8][]byte // most packages have one or two licenses; no allocation below eight
	d.licenses = lics[:0]
	var section string
	sawName, sawVersion := false, false
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			section = ""
			continue
		}
		if section == "" {
			if len(line) < 3 || line[0] != '%' || line[len(line)-1] != '%' {
				return model.Package{}, false // a value outside any section
			}
			section = sectionName(line)
			switch section {
			case "NAME":
				if sawName {
					return model.Package{}, false
				}
				sawName = true
			case "VERSION":
				if sawVersion {
					return model.Package{}, false
				}
				sawVersion = true
			}
			continue
		}
		switch section {
		case "NAME":
			d.name = first(d.name, line)
		case "VERSION":
			d.version = first(d.version, line)
		case "BASE":
			d.base = first(d.base, line)
		case "DESC":
			d.desc = first(d.desc, line)
		case "ARCH":
			d.arch = first(d.arch, line)
		case "INSTALLDATE":
			d.installDate = first(d.installDate, line)
		case "PACKAGER":
			d.packager = first(d.packager, line)
		case "SIZE":
			d.size = first(d.size, line)
		case "GROUPS":
			d.firstGroup = first(d.firstGroup, line)
		case "LICENSE":
			d.licenses = append(d.licenses, line)
		case "REASON":
			d.reason = first(d.reason, line)
		}
	}
	if !validName(d.name) || !validVersion(d.version) {
		return model.Package{}, false
	}
	var name, version string
	if dir != "" {
		// The directory name is <name>-<version>: sharing it saves two copies per package.
		n := len(d.name)
		if len(dir) != n+1+len(d.version) || dir[:n] != string(d.name) || dir[n] != '-' || dir[n+1:] != string(d.version) {
			return model.Package{}, false
		}
		name, version = dir[:n], dir[n+1:]
	} else {
		name, version = string(d.name), string(d.version)
	}
	p := model.Package{
		Source:  sourceFormat,
		Name:    name,
		Version: version,
		Arch:    in.String(d.arch, maxFieldLen),
		PackageInfo: model.PackageInfo{
			Maintainer: in.String(d.packager, maxFieldLen),
			Section:    in.String(d.firstGroup, maxFieldLen),
			Origin:     in.String(d.base, maxFieldLen),
			License:    license(in, d.licenses),
			Summary:    source.Text(d.desc, maxFieldLen),
		},
	}
	if n, ok := parseUint(d.installDate); ok && n > 0 && n < 1<<40 {
		p.InstallTime = time.Unix(int64(n), 0).UTC()
	}
	if n, ok := parseUint(d.size); ok {
		p.InstalledSize = n
	}
	p.Requested, p.Evidence = reason(d.reason), evidenceDB
	return p, true
}

// sectionName returns the name of a %NAME% line as one of the constant strings the parser
// switches on, without allocating; other sections come back as "other".
func sectionName(line []byte) string {
	switch string(line[1 : len(line)-1]) {
	case "NAME":
		return "NAME"
	case "VERSION":
		return "VERSION"
	case "BASE":
		return "BASE"
	case "DESC":
		return "DESC"
	case "ARCH":
		return "ARCH"
	case "INSTALLDATE":
		return "INSTALLDATE"
	case "PACKAGER":
		return "PACKAGER"
	case "SIZE":
		return "SIZE"
	case "GROUPS":
		return "GROUPS"
	case "LICENSE":
		return "LICENSE"
	case "REASON":
		return "REASON"
	}
	return "other"
}

// parseUint parses a decimal number without allocating, as strconv would for the error.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// first keeps the first line of a single-valued section.
func first(cur, line []byte) []byte {
	if cur != nil {
		return cur
	}
	return line
}

// validName checks a package name as makepkg's lint does: no leading '-' or '.', and only
// alphanumerics and @._+- (pacman itself accepts what makepkg built).
func validName(b []byte) bool {
	if len(b) == 0 || len(b) > 256 || b[0] == '-' || b[0] == '.' {
		return false
	}
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '@', c == '.', c == '_', c == '+', c == '-':
		default:
			return false
		}
	}
	return true
}

// validVersion checks a full version, [epoch:]pkgver-pkgrel: printable, no blanks or slashes,
// and a release after the last '-'.
func validVersion(b []byte) bool {
	if len(b) == 0 || len(b) > 256 || !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c == 0x7f || c == '/' {
			return false
		}
	}
	i := bytes.LastIndexByte(b, '-')
	return i > 0 && i < len(b)-1
}

// license joins the %LICENSE% entries into one SPDX expression with " AND ": a package is
// distributed under all the licenses it lists (glibc: GPL-2.0-or-later AND
// LGPL-2.1-or-later). An entry that is itself a choice ("GPL-3.0-or-later OR BSD-2-Clause")
// is parenthesised when there are others. Entries that are not SPDX identifiers
// ("custom:BSD") are kept as they are.
func license(in source.Interner, lics [][]byte) string {
	switch len(lics) {
	case 0:
		return ""
	case 1:
		return in.String(lics[0], maxFieldLen)
	}
	var b []byte
	var scratch [256]byte
	b = scratch[:0]
	for i, l := range lics {
		if i > 0 {
			b = append(b, " AND "...)
		}
		if bytes.Contains(l, []byte(" OR ")) || bytes.Contains(l, []byte(" or ")) {
			b = append(append(append(b, '('), l...), ')')
		} else {
			b = append(b, l...)
		}
	}
	return in.String(b, maxFieldLen)
}
