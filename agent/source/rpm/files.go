package rpm

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"

	"github.com/onus-project/onus/agent/hostfs"
)

// The header tags of a package's file list (rpm's rpmtag.h): each file is
// DIRNAMES[DIRINDEXES[i]] + BASENAMES[i]; headers of rpm older than 4.1 list whole paths in
// OLDFILENAMES instead.
const (
	tagOldFilenames = 1027
	tagDirIndexes   = 1116
	tagBasenames    = 1117
	tagDirNames     = 1118
)

// Files calls fn with the path of every file that a package in rpm's database owns, as the
// database spells it (absolute, on the host), reading the same database Collect reads. path is
// only valid during the call. It returns an error wrapping source.ErrNotPresent when the host
// has no rpm database; headers that cannot be decoded are skipped and counted.
func Files(ctx context.Context, root hostfs.Root, fn func(path []byte)) (skipped int, err error) {
	db, err := New(root).find()
	if err != nil {
		return 0, fmt.Errorf("rpm: %w", err)
	}
	f, err := openRead(db.path)
	if err != nil {
		return 0, fmt.Errorf("rpm: %w", err)
	}
	defer f.Close()
	var (
		wal     *os.File
		walSize int64
	)
	if db.format == formatSQLite {
		if fi, err := os.Stat(db.path + "-wal"); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
			if wal, err = openRead(db.path + "-wal"); err == nil {
				defer wal.Close()
				walSize = fi.Size()
			}
		}
	}
	var (
		buf []byte
		n   int
	)
	blob := func(b []byte) error {
		if n++; n%64 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := HeaderFiles(b, &buf, fn); err != nil {
			skipped++
		}
		return nil
	}
	var bad int
	switch db.format {
	case formatSQLite:
		if wal != nil {
			bad, err = readSQLite(f, db.info.Size(), wal, walSize, blob)
		} else {
			bad, err = readSQLite(f, db.info.Size(), nil, 0, blob)
		}
	case formatNDB:
		bad, err = readNDB(f, db.info.Size(), blob)
	case formatBDB:
		bad, err = readBDB(f, db.info.Size(), blob)
	}
	if err != nil {
		if ctx.Err() != nil {
			return skipped + bad, ctx.Err()
		}
		return skipped + bad, fmt.Errorf("rpm: %s: %w", db.hostPath, err)
	}
	return skipped + bad, nil
}

// HeaderFiles calls fn with each file path of one package header blob; buf is scratch space
// kept between calls. Every offset and count is checked against the blob, as parseHeader
// does; a header without a file list (a meta package) has no files and is not an error.
func HeaderFiles(b []byte, buf *[]byte, fn func(path []byte)) error {
	if len(b) < 8 {
		return fmt.Errorf("%w: header of %d bytes", ErrMalformed, len(b))
	}
	il := binary.BigEndian.Uint32(b)
	dl := binary.BigEndian.Uint32(b[4:])
	if il == 0 || il > maxEntries || dl > maxData {
		return fmt.Errorf("%w: header with %d entries and %d bytes of data", ErrMalformed, il, dl)
	}
	start := 8 + uint64(il)*entrySize
	if start+uint64(dl) > uint64(len(b)) {
		return fmt.Errorf("%w: header needs %d bytes, has %d", ErrMalformed, start+uint64(dl), len(b))
	}
	index, data := b[8:start], b[start:start+uint64(dl)]
	var ents [4][]byte // the last entry of each file tag, as in parseHeader
	for i := 0; i < len(index); i += entrySize {
		switch binary.BigEndian.Uint32(index[i:]) {
		case tagOldFilenames:
			ents[0] = index[i : i+entrySize]
		case tagDirIndexes:
			ents[1] = index[i : i+entrySize]
		case tagBasenames:
			ents[2] = index[i : i+entrySize]
		case tagDirNames:
			ents[3] = index[i : i+entrySize]
		}
	}
	if ents[2] == nil {
		if ents[0] == nil {
			return nil
		}
		old, err := strArray(data, ents[0])
		if err != nil {
			return err
		}
		for _, p := range old {
			fn(p)
		}
		return nil
	}
	bases, err := strArray(data, ents[2])
	if err != nil {
		return err
	}
	if ents[1] == nil || ents[3] == nil {
		return fmt.Errorf("%w: BASENAMES without DIRNAMES or DIRINDEXES", ErrMalformed)
	}
	dirs, err := strArray(data, ents[3])
	if err != nil {
		return err
	}
	typ, off, cnt := entryOf(ents[1])
	if typ != typeInt32 || int(cnt) != len(bases) || uint64(off)+uint64(cnt)*4 > uint64(len(data)) {
		return fmt.Errorf("%w: bad DIRINDEXES entry", ErrMalformed)
	}
	for i, base := range bases {
		d := binary.BigEndian.Uint32(data[off+uint32(i)*4:])
		if d >= uint32(len(dirs)) {
			return fmt.Errorf("%w: directory index %d of %d", ErrMalformed, d, len(dirs))
		}
		*buf = append(append((*buf)[:0], dirs[d]...), base...)
		fn(*buf)
	}
	return nil
}

func entryOf(e []byte) (typ, off, cnt uint32) {
	return binary.BigEndian.Uint32(e[4:]), binary.BigEndian.Uint32(e[8:]), binary.BigEndian.Uint32(e[12:])
}

// strArray returns the strings of a STRING_ARRAY entry (a STRING entry counts as one).
func strArray(data []byte, e []byte) ([][]byte, error) {
	typ, off, cnt := entryOf(e)
	if typ != typeStringArray && typ != typeString {
		return nil, fmt.Errorf("%w: type %d where a string array was expected", ErrMalformed, typ)
	}
	// Each string takes at least its NUL: a count past the data left cannot be right.
	if uint64(off) > uint64(len(data)) || uint64(cnt) > uint64(len(data))-uint64(off) {
		return nil, fmt.Errorf("%w: string array out of bounds", ErrMalformed)
	}
	out := make([][]byte, 0, cnt)
	s := data[off:]
	for range cnt {
		i := bytes.IndexByte(s, 0)
		if i < 0 {
			return nil, fmt.Errorf("%w: unterminated string", ErrMalformed)
		}
		out = append(out, s[:i])
		s = s[i+1:]
	}
	return out, nil
}
