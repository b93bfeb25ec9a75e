package rpm

import (
	"bytes"
	"encoding/binary"
	"hash/adler32"
	"io"
)

// This file builds small databases of each format for the tests and the fuzz seeds: a few
// KiB, so that the fuzzer's minimization of the inputs it finds stays quick, and easy to
// corrupt in a chosen way.

const testPageSize = 512

// sqliteVarint appends v (below 2^56) as a sqlite varint.
func sqliteVarint(b []byte, v uint64) []byte {
	if v >= 1<<56 {
		panic("varint too large for the test builder")
	}
	var tmp [8]byte
	n := 0
	for {
		tmp[n] = byte(v & 0x7f)
		n++
		v >>= 7
		if v == 0 {
			break
		}
	}
	for i := n - 1; i >= 0; i-- {
		c := tmp[i]
		if i > 0 {
			c |= 0x80
		}
		b = append(b, c)
	}
	return b
}

// sqliteRecord encodes a record of columns, each nil (NULL), an int64, a string (text) or
// a []byte (blob).
func sqliteRecord(cols ...any) []byte {
	var types, body []byte
	for _, c := range cols {
		switch v := c.(type) {
		case nil:
			types = sqliteVarint(types, 0)
		case int64:
			types = sqliteVarint(types, 6)
			body = binary.BigEndian.AppendUint64(body, uint64(v))
		case string:
			types = sqliteVarint(types, uint64(2*len(v)+13))
			body = append(body, v...)
		case []byte:
			types = sqliteVarint(types, uint64(2*len(v)+12))
			body = append(body, v...)
		}
	}
	hlen := len(types) + 1
	if hlen > 127 {
		hlen++ // a two-byte header size
	}
	rec := sqliteVarint(nil, uint64(hlen))
	return append(append(rec, types...), body...)
}

// sqliteDoc is a sqlite database being built, page 1 first.
type sqliteDoc struct {
	pages [][]byte
}

func (d *sqliteDoc) newPage() uint32 {
	d.pages = append(d.pages, make([]byte, testPageSize))
	return uint32(len(d.pages))
}

func (d *sqliteDoc) page(pgno uint32) []byte { return d.pages[pgno-1] }

// leafCell lays out the payload rec of row rowid as a table leaf cell, putting what does not
// fit on the leaf page on new overflow pages.
func (d *sqliteDoc) leafCell(rowid int64, rec []byte) []byte {
	u := testPageSize
	cell := sqliteVarint(nil, uint64(len(rec)))
	cell = sqliteVarint(cell, uint64(rowid))
	local := len(rec)
	if x := u - 35; local > x {
		m := (u-12)*32/255 - 23
		k := m + (len(rec)-m)%(u-4)
		local = m
		if k <= x {
			local = k
		}
	}
	cell = append(cell, rec[:local]...)
	if local == len(rec) {
		return cell
	}
	rest := rec[local:]
	first := d.newPage()
	cell = binary.BigEndian.AppendUint32(cell, first)
	for pg := first; ; {
		p := d.page(pg)
		n := copy(p[4:u], rest)
		if rest = rest[n:]; len(rest) == 0 {
			return cell
		}
		next := d.newPage()
		binary.BigEndian.PutUint32(p, next)
		pg = next
	}
}

// putPage writes a table b-tree page of the given type at pgno: its header at hdrOff, then
// its cells. It reports false when they do not fit.
func (d *sqliteDoc) putPage(pgno uint32, hdrOff int, kind byte, right uint32, cells [][]byte) bool {
	p := d.page(pgno)
	hdrLen := 8
	if kind == pageInteriorTable {
		hdrLen = 12
		binary.BigEndian.PutUint32(p[hdrOff+8:], right)
	}
	end := testPageSize
	ptr := hdrOff + hdrLen
	for _, c := range cells {
		end -= len(c)
		if end < ptr+2 {
			return false
		}
		copy(p[end:], c)
		binary.BigEndian.PutUint16(p[ptr:], uint16(end))
		ptr += 2
	}
	p[hdrOff] = kind
	binary.BigEndian.PutUint16(p[hdrOff+3:], uint16(len(cells)))
	binary.BigEndian.PutUint16(p[hdrOff+5:], uint16(end))
	return true
}

// fits reports whether cells fit on a leaf page.
func fits(cells [][]byte, extra []byte) bool {
	n := 8 + 2 + len(extra)
	for _, c := range cells {
		n += 2 + len(c)
	}
	return n <= testPageSize
}

// sqliteFile builds rpm's sqlite database of 512-byte pages holding blobs as the rows of its
// Packages table: leaf pages as full as they get under an interior root page when one leaf
// is not enough, overflow pages for the rows that need them. wal marks the file as in WAL
// mode, as rpm's are.
func sqliteFile(wal bool, blobs ...[]byte) []byte {
	d := &sqliteDoc{}
	d.newPage() // the schema
	root := d.newPage()
	var leaves [][][]byte
	var lastRowid []int64
	var cur [][]byte
	for i, b := range blobs {
		c := d.leafCell(int64(i+1), sqliteRecord(nil, b))
		if len(cur) > 0 && !fits(cur, c) {
			leaves = append(leaves, cur)
			lastRowid = append(lastRowid, int64(i))
			cur = nil
		}
		cur = append(cur, c)
	}
	leaves = append(leaves, cur)
	if len(leaves) == 1 {
		d.putPage(root, 0, pageLeafTable, 0, leaves[0])
	} else {
		var cells [][]byte
		var right uint32
		for i, l := range leaves {
			pg := d.newPage()
			d.putPage(pg, 0, pageLeafTable, 0, l)
			if i == len(leaves)-1 {
				right = pg
				break
			}
			cells = append(cells, sqliteVarint(binary.BigEndian.AppendUint32(nil, pg), uint64(lastRowid[i])))
		}
		if !d.putPage(root, 0, pageInteriorTable, right, cells) {
			panic("too many rows for the test database")
		}
	}
	return d.finish(root, wal)
}

// finish writes the schema on page 1, naming root as the root page of the Packages table,
// and the database header, and returns the file.
func (d *sqliteDoc) finish(root uint32, wal bool) []byte {
	schema := sqliteRecord("table", "Packages", "Packages", int64(root),
		"CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
	d.putPage(1, sqliteHeaderSize, pageLeafTable, 0, [][]byte{d.leafCell(1, schema)})

	h := d.page(1)
	copy(h, sqliteMagic)
	binary.BigEndian.PutUint16(h[16:], testPageSize)
	h[18], h[19] = 1, 1
	if wal {
		h[18], h[19] = 2, 2
	}
	h[21], h[22], h[23] = 64, 32, 32
	binary.BigEndian.PutUint32(h[24:], 1) // change counter
	binary.BigEndian.PutUint32(h[28:], uint32(len(d.pages)))
	binary.BigEndian.PutUint32(h[40:], 1) // schema cookie
	binary.BigEndian.PutUint32(h[44:], 4) // schema format
	binary.BigEndian.PutUint32(h[56:], 1) // UTF-8
	binary.BigEndian.PutUint32(h[92:], 1)
	binary.BigEndian.PutUint32(h[96:], 3034001)
	return bytes.Join(d.pages, nil)
}

// sqliteWAL builds a WAL for a database of 512-byte pages holding one transaction that
// writes every page of db (another database, of as many pages or more).
func sqliteWAL(db []byte) []byte {
	order := binary.LittleEndian
	w := make([]byte, walHeaderSize)
	binary.BigEndian.PutUint32(w, walMagicLE)
	binary.BigEndian.PutUint32(w[4:], walVersion)
	binary.BigEndian.PutUint32(w[8:], testPageSize)
	binary.BigEndian.PutUint32(w[16:], 0x11223344) // salts
	binary.BigEndian.PutUint32(w[20:], 0x55667788)
	s1, s2 := walChecksum(order, w[:24], 0, 0)
	binary.BigEndian.PutUint32(w[24:], s1)
	binary.BigEndian.PutUint32(w[28:], s2)
	n := len(db) / testPageSize
	for i := range n {
		f := make([]byte, walFrameHeader, walFrameHeader+testPageSize)
		binary.BigEndian.PutUint32(f, uint32(i+1))
		if i == n-1 {
			binary.BigEndian.PutUint32(f[4:], uint32(n)) // the commit frame
		}
		copy(f[8:16], w[16:24])
		f = append(f, db[i*testPageSize:(i+1)*testPageSize]...)
		s1, s2 = walChecksum(order, f[:8], s1, s2)
		s1, s2 = walChecksum(order, f[walFrameHeader:], s1, s2)
		binary.BigEndian.PutUint32(f[16:], s1)
		binary.BigEndian.PutUint32(f[20:], s2)
		w = append(w, f...)
	}
	return w
}

// bdbValue is a value for bdbHashFile: on its hash page, or on a chain of overflow pages.
type bdbValue struct {
	data    []byte
	offPage bool
}

// bdbHashFile builds a Berkeley DB hash file of 512-byte pages: the metadata page, one hash
// page holding the pairs (keys are header numbers), then the overflow pages of the
// off-page values.
func bdbHashFile(keys []uint32, vals []bdbValue) []byte {
	const ps = testPageSize
	le := binary.LittleEndian
	pages := [][]byte{make([]byte, ps), make([]byte, ps)}
	meta, hash := pages[0], pages[1]
	le.PutUint32(meta[12:], bdbHashMagic)
	le.PutUint32(meta[16:], 9)
	le.PutUint32(meta[20:], ps)
	meta[25] = bdbMetaHash
	le.PutUint32(hash[8:], 1)
	hash[25] = bdbPageHash
	le.PutUint16(hash[20:], uint16(2*len(keys)))
	end := ps
	put := func(i int, item []byte) {
		end -= len(item)
		copy(hash[end:], item)
		le.PutUint16(hash[bdbPageHeader+2*i:], uint16(end))
	}
	for i, k := range keys {
		put(2*i, le.AppendUint32([]byte{bdbKeyData}, k))
		v := vals[i]
		if !v.offPage {
			put(2*i+1, append([]byte{bdbKeyData}, v.data...))
			continue
		}
		first := uint32(len(pages))
		item := []byte{bdbOffPage, 0, 0, 0}
		item = le.AppendUint32(item, first)
		item = le.AppendUint32(item, uint32(len(v.data)))
		put(2*i+1, item)
		rest := v.data
		for len(rest) > 0 {
			p := make([]byte, ps)
			pg := uint32(len(pages))
			le.PutUint32(p[8:], pg)
			p[25] = bdbPageOverflow
			n := copy(p[bdbPageHeader:], rest)
			rest = rest[n:]
			le.PutUint16(p[22:], uint16(n))
			if pg > first {
				le.PutUint32(p[12:], pg-1)
			}
			if len(rest) > 0 {
				le.PutUint32(p[16:], pg+1)
			}
			pages = append(pages, p)
		}
	}
	le.PutUint16(hash[22:], uint16(end))
	le.PutUint32(meta[32:], uint32(len(pages)-1))
	return bytes.Join(pages, nil)
}

// ndbFile builds an ndb Packages.db with one slot page holding the blobs, package indexes
// 1, 2, ...
func ndbFile(blobs ...[]byte) []byte {
	le := binary.LittleEndian
	f := make([]byte, ndbPageSize)
	le.PutUint32(f, ndbMagic)
	le.PutUint32(f[8:], 1)  // generation
	le.PutUint32(f[12:], 1) // slot pages
	le.PutUint32(f[16:], uint32(len(blobs)+1))
	for o := ndbHeaderSize; o < ndbPageSize; o += ndbSlotSize {
		le.PutUint32(f[o:], ndbSlotMagic)
	}
	for i, b := range blobs {
		n := (ndbHeadSize + len(b) + ndbTailSize + ndbBlockSize - 1) / ndbBlockSize * ndbBlockSize
		blk := make([]byte, n)
		le.PutUint32(blk, ndbBlobHead)
		le.PutUint32(blk[4:], uint32(i+1))
		le.PutUint32(blk[8:], 1700000000)
		le.PutUint32(blk[12:], uint32(len(b)))
		copy(blk[ndbHeadSize:], b)
		tail := blk[n-ndbTailSize:]
		le.PutUint32(tail, adler32.Checksum(blk[:n-ndbTailSize]))
		le.PutUint32(tail[4:], uint32(len(b)))
		le.PutUint32(tail[8:], ndbBlobTail)
		s := f[ndbHeaderSize+ndbSlotSize*i:]
		le.PutUint32(s[4:], uint32(i+1))
		le.PutUint32(s[8:], uint32(len(f)/ndbBlockSize))
		le.PutUint32(s[12:], uint32(n/ndbBlockSize))
		f = append(f, blk...)
	}
	return f
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.ReaderAt
	n int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}
