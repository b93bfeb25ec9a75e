// Package apk reads the packages installed on Alpine Linux (and other apk-tools systems) from
// apk's installed database.
//
// It reads one file under the host root: /lib/apk/db/installed. Each package is a record of
// "X:value" lines ended by a blank line: the package's header fields (P: name, V: version, A:
// arch, S: size, I: installed size, T: description, U: URL, L: license, o: origin, m:
// maintainer, t: build time, c: commit, D:/p:/i: dependencies, provides, install-if) followed
// by its file list (F: directories, R: files, M:/a: permissions, Z: checksums), which is most of
// the file. The file is scanned line by line through a fixed buffer; file entries are skipped
// without being kept, so memory does not grow with the database.
//
// apk records no install time, so Package.InstallTime stays zero. A record without a P: or V:
// line, with a line that is not "X:value", or with a line longer than maxLine bytes, is skipped
// and counted.
package apk

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"syscall"
	"unicode/utf8"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
)

const (
	// DBPath is apk's installed database.
	DBPath = "/lib/apk/db/installed"
	dbDir  = "/lib/apk/db"
	// maxDB caps the bytes read: the database of an Alpine desktop with ~1,500 packages is
	// ~30 MiB, nearly all of it file entries.
	maxDB = 512 << 20
	// maxLine is the longest line read. apk writes header lines from a 2 KiB buffer and file
	// lines from one of 1 KiB plus PATH_MAX; only dependency lists can be longer.
	maxLine      = 64 << 10
	maxFieldLen  = 4096 // longest value kept; longer ones are cut at a rune boundary
	sourceFormat = "apk"
)

// ErrMalformed is wrapped by the errors of a database that is not an apk database at all.
var ErrMalformed = errors.New("malformed apk database")

// Source reads apk's installed database.
type Source struct {
	root hostfs.Root
}

// New returns an apk source reading under root.
func New(root hostfs.Root) *Source { return &Source{root: root} }

// Name implements source.Source.
func (*Source) Name() string { return "apk" }

// PackageFormat implements source.PackageSource. apk has no source.Locker: it takes a flock,
// which cannot be looked at without taking it, so its changes are only debounced.
func (*Source) PackageFormat() string { return "apk" }

// WatchPaths implements source.Watcher: apk writes the installed database to a temporary file
// in this directory and renames it over the old one, and the world file likewise in /etc/apk.
func (s *Source) WatchPaths() []string { return []string{s.root.Path(dbDir), s.root.Path(worldDir)} }

// Collect implements source.Source. Packages are returned sorted by name, arch and version.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	p, err := s.root.Resolve(DBPath)
	if err != nil {
		return res, fmt.Errorf("apk: %s: %w", DBPath, err)
	}
	// O_NONBLOCK: a FIFO in place of the database must not hang the agent on open.
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if hostfs.NotPresent(err) {
			return res, fmt.Errorf("apk: %s: %w", DBPath, source.ErrNotPresent)
		}
		return res, fmt.Errorf("apk: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return res, fmt.Errorf("apk: %s: %w: not a regular file", DBPath, ErrMalformed)
	}
	pkgs, skipped, err := parse(ctx, f)
	res.Software, res.Skipped = pkgs, skipped
	if err != nil {
		return res, fmt.Errorf("apk: %s: %w", DBPath, err)
	}
	res.Skipped += requested(s.root, res.Software)
	return res, nil
}

// Parse reads an installed database from r. It returns the packages, sorted by name, arch
// and version, and how many records were malformed and skipped. The error is reserved for
// input that cannot be read or is not an installed database at all.
func Parse(r io.Reader) (pkgs []model.Package, skipped int, err error) {
	return parse(context.Background(), r)
}

func parse(ctx context.Context, r io.Reader) (pkgs []model.Package, skipped int, err error) {
	lr := &io.LimitedReader{R: r, N: maxDB + 1}
	br := bufio.NewReaderSize(lr, maxLine)
	in := make(source.Interner)
	rec := record{arena: make([]byte, 0, 1024)}
	flush := func() {
		if rec.empty() {
			return
		}
		if p, ok := rec.pkg(in); ok {
			pkgs = append(pkgs, p)
		} else {
			skipped++
		}
		rec.reset()
	}
	for lines := 0; ; lines++ {
		if lines%4096 == 0 && ctx.Err() != nil {
			return nil, skipped, ctx.Err()
		}
		line, err := br.ReadSlice('\n')
		long := err == bufio.ErrBufferFull
		if long {
			// The rest of the line is read and dropped; the record it is in is broken.
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			rec.broken = true
		}
		if err != nil && err != io.EOF {
			return nil, skipped, err
		}
		if !long {
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte{'\n'}), []byte{'\r'})
			if len(line) == 0 {
				flush()
			} else {
				rec.add(line)
			}
		}
		if err == io.EOF {
			break
		}
	}
	flush()
	if lr.N <= 0 {
		return nil, skipped, fmt.Errorf("%w (more than %d bytes)", hostfs.ErrTooLarge, maxDB)
	}
	if len(pkgs) == 0 && skipped > 0 {
		return nil, skipped, fmt.Errorf("%w: no valid package record, %d malformed", ErrMalformed, skipped)
	}
	slices.SortFunc(pkgs, model.ComparePackages)
	return pkgs, skipped, nil
}

// span is a value copied into a record's arena.
type span struct{ off, n int }

// The header fields a record keeps, as bits of record.seen.
const (
	fName = 1 << iota
	fVersion
	fArch
	fSize
	fDesc
	fLicense
	fOrigin
	fMaintainer
)

// record collects the kept header fields of one package. Lines are only valid until the next
// read, so their values are copied into arena, which is reused from record to record.
type record struct {
	arena                                                   []byte
	name, version, arch, size, desc, license, origin, maint span
	seen                                                    uint16
	lines                                                   int
	broken                                                  bool
}

func (r *record) empty() bool { return r.lines == 0 && !r.broken }

func (r *record) reset() { *r = record{arena: r.arena[:0]} }

// add takes one non-blank line of the record.
func (r *record) add(line []byte) {
	r.lines++
	if len(line) < 2 || line[1] != ':' {
		r.broken = true
		return
	}
	v := line[2:]
	switch line[0] {
	case 'P':
		if r.seen&fName != 0 {
			r.broken = true // two records run together
			return
		}
		r.keep(&r.name, fName, v)
	case 'V':
		if r.seen&fVersion != 0 {
			r.broken = true
			return
		}
		r.keep(&r.version, fVersion, v)
	case 'A':
		r.keep(&r.arch, fArch, v)
	case 'I':
		r.keep(&r.size, fSize, v)
	case 'T':
		r.keep(&r.desc, fDesc, v)
	case 'L':
		r.keep(&r.license, fLicense, v)
	case 'o':
		r.keep(&r.origin, fOrigin, v)
	case 'm':
		r.keep(&r.maint, fMaintainer, v)
	}
	// Everything else (C S U t c k D p i r q s f g, and the F M R a Z file entries) is not kept.
}

// keep copies the first value of a field, cut to about maxFieldLen, into the arena.
func (r *record) keep(f *span, bit uint16, v []byte) {
	if r.seen&bit != 0 {
		return
	}
	r.seen |= bit
	// A little over the limit, so that source.Text knows the value was cut.
	v = source.Clip(v, maxFieldLen+utf8.UTFMax)
	*f = span{off: len(r.arena), n: len(v)}
	r.arena = append(r.arena, v...)
}

func (r *record) get(f span) []byte { return r.arena[f.off : f.off+f.n] }

// pkg turns the record into a package; false when the record is malformed.
func (r *record) pkg(in source.Interner) (model.Package, bool) {
	name, version := r.get(r.name), r.get(r.version)
	if r.broken || !validToken(name) || !validToken(version) {
		return model.Package{}, false
	}
	p := model.Package{
		Source:  sourceFormat,
		Name:    string(name),
		Version: string(version),
		Arch:    in.String(r.get(r.arch), maxFieldLen),
		PackageInfo: model.PackageInfo{
			Maintainer: in.String(r.get(r.maint), maxFieldLen),
			Origin:     in.String(r.get(r.origin), maxFieldLen),
			License:    in.String(r.get(r.license), maxFieldLen),
			Summary:    source.Text(r.get(r.desc), maxFieldLen),
		},
	}
	if n, ok := parseUint(r.get(r.size)); ok {
		p.InstalledSize = n
	}
	return p, true
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

// validToken checks a name or version: non-empty, valid UTF-8, without blanks, control
// characters or slashes (apk builds file names from both).
func validToken(b []byte) bool {
	if len(b) == 0 || len(b) > 256 || !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c == 0x7f || c == '/' {
			return false
		}
	}
	return true
}
