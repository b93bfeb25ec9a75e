package rpm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// This file reads the Packages table of rpm's sqlite database (rpm >= 4.16) straight from the
// sqlite file format (https://www.sqlite.org/fileformat.html), without sqlite itself: it only
// reads (no lock, no -shm or -wal file is ever created, which a sqlite connection would do
// even read-only), costs a few allocations, and is small enough to fuzz whole.
//
// rpm's table is CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT
// NULL): a table b-tree whose records are [NULL (the rowid alias), header blob].
//
// rpm keeps the database in WAL mode. Committed transactions that have not been checkpointed
// yet live in the -wal file beside it (normally empty: rpm checkpoints and truncates it when
// it closes the database, but not when it is killed), so when the -wal file holds frames they
// are read as sqlite's own recovery would: valid frames (matching salts and checksum chain)
// up to the last commit frame replace the database's pages.

const (
	sqliteMagic      = "SQLite format 3\x00"
	sqliteHeaderSize = 100
	maxTreeDepth     = 40       // a table b-tree of 4 KiB pages is 5 deep for a billion rows
	maxPayload       = 64 << 20 // largest header blob read; rpm's largest are a few MiB
	walHeaderSize    = 32
	walFrameHeader   = 24
	walMagicLE       = 0x377f0682
	walMagicBE       = 0x377f0683
	walVersion       = 3007000

	pageInteriorTable = 0x05
	pageLeafTable     = 0x0d
)

// sqliteDB is an open read-only view of a sqlite database file and its WAL.
type sqliteDB struct {
	f        io.ReaderAt
	pageSize int
	usable   int
	nPages   uint32
	// wal maps page numbers to the offset of their newest committed copy in walFile.
	wal     map[uint32]int64
	walFile io.ReaderAt

	bufs    [][]byte // one page buffer per tree level
	ovf     []byte   // overflow page buffer
	payload []byte   // the record being assembled
	// visited holds the pages a table scan has read (b-tree and overflow pages alike): in a
	// sound file every page has one place in one tree, so a page reached twice is a loop or a
	// shared chain, which would otherwise make a small corrupt file cost time quadratic in its
	// size, or without end.
	visited []uint64
}

// openSQLite reads the database header of f (size bytes) and the committed frames of its
// WAL file wal (walSize bytes; nil when there is none).
func openSQLite(f io.ReaderAt, size int64, wal io.ReaderAt, walSize int64) (*sqliteDB, error) {
	var hdr [sqliteHeaderSize]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return nil, fmt.Errorf("%w: sqlite header: %v", ErrMalformed, err)
	}
	if string(hdr[:16]) != sqliteMagic {
		return nil, fmt.Errorf("%w: not a sqlite database", ErrMalformed)
	}
	pageSize := int(binary.BigEndian.Uint16(hdr[16:]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return nil, fmt.Errorf("%w: sqlite page size %d", ErrMalformed, pageSize)
	}
	if hdr[18] > 2 || hdr[19] > 2 {
		return nil, fmt.Errorf("%w: unsupported sqlite file format %d", ErrMalformed, hdr[19])
	}
	usable := pageSize - int(hdr[20])
	if usable < 480 {
		return nil, fmt.Errorf("%w: sqlite usable page size %d", ErrMalformed, usable)
	}
	if enc := binary.BigEndian.Uint32(hdr[56:]); enc > 1 {
		return nil, fmt.Errorf("%w: unsupported sqlite text encoding %d", ErrMalformed, enc)
	}
	db := &sqliteDB{f: f, pageSize: pageSize, usable: usable}
	filePages := uint32(min(size/int64(pageSize), 1<<31))
	db.nPages = filePages
	if n := binary.BigEndian.Uint32(hdr[28:]); n != 0 && n <= filePages &&
		binary.BigEndian.Uint32(hdr[24:]) == binary.BigEndian.Uint32(hdr[92:]) {
		db.nPages = n
	}
	if hdr[19] == 2 && wal != nil && walSize > walHeaderSize {
		if err := db.readWAL(wal, walSize, filePages); err != nil {
			return nil, err
		}
	}
	if db.nPages == 0 {
		return nil, fmt.Errorf("%w: empty sqlite database", ErrMalformed)
	}
	db.visited = make([]uint64, db.nPages/64+1)
	return db, nil
}

// readWAL indexes the committed frames of the WAL.
func (db *sqliteDB) readWAL(wal io.ReaderAt, walSize int64, filePages uint32) error {
	var hdr [walHeaderSize]byte
	if _, err := wal.ReadAt(hdr[:], 0); err != nil {
		return nil // a WAL whose header cannot be read holds nothing committed
	}
	magic := binary.BigEndian.Uint32(hdr[:])
	if (magic != walMagicLE && magic != walMagicBE) || binary.BigEndian.Uint32(hdr[4:]) != walVersion ||
		int(binary.BigEndian.Uint32(hdr[8:])) != db.pageSize {
		return nil // sqlite ignores such a WAL too
	}
	var order binary.ByteOrder = binary.LittleEndian
	if magic == walMagicBE {
		order = binary.BigEndian
	}
	s1, s2 := walChecksum(order, hdr[:24], 0, 0)
	if s1 != binary.BigEndian.Uint32(hdr[24:]) || s2 != binary.BigEndian.Uint32(hdr[28:]) {
		return nil
	}
	salt := hdr[16:24]
	frameSize := int64(walFrameHeader + db.pageSize)
	frame := make([]byte, frameSize)
	pending := map[uint32]int64{}
	committed := map[uint32]int64{}
	var dbPages uint32
	for off := int64(walHeaderSize); off+frameSize <= walSize; off += frameSize {
		if _, err := wal.ReadAt(frame, off); err != nil {
			break
		}
		pgno := binary.BigEndian.Uint32(frame)
		if pgno == 0 || !bytes.Equal(frame[8:16], salt) {
			break
		}
		s1, s2 = walChecksum(order, frame[:8], s1, s2)
		s1, s2 = walChecksum(order, frame[walFrameHeader:], s1, s2)
		if s1 != binary.BigEndian.Uint32(frame[16:]) || s2 != binary.BigEndian.Uint32(frame[20:]) {
			break
		}
		pending[pgno] = off + walFrameHeader
		if commit := binary.BigEndian.Uint32(frame[4:]); commit != 0 {
			for p, o := range pending {
				committed[p] = o
			}
			clear(pending)
			dbPages = commit
		}
	}
	if dbPages == 0 {
		return nil
	}
	// A committed database may grow past the file by at most the pages the WAL holds.
	if dbPages > filePages+uint32(len(committed)) {
		return fmt.Errorf("%w: WAL commit of %d pages", ErrMalformed, dbPages)
	}
	db.wal, db.walFile, db.nPages = committed, wal, dbPages
	return nil
}

// walChecksum is sqlite's WAL checksum over b (a multiple of 8 bytes), continuing from s1, s2.
func walChecksum(order binary.ByteOrder, b []byte, s1, s2 uint32) (uint32, uint32) {
	for i := 0; i+8 <= len(b); i += 8 {
		s1 += order.Uint32(b[i:]) + s2
		s2 += order.Uint32(b[i+4:]) + s1
	}
	return s1, s2
}

// page reads page pgno into buf (pageSize bytes).
func (db *sqliteDB) page(pgno uint32, buf []byte) error {
	if pgno == 0 || pgno > db.nPages {
		return fmt.Errorf("%w: page %d past the end of the database (%d pages)", ErrMalformed, pgno, db.nPages)
	}
	var err error
	if off, ok := db.wal[pgno]; ok {
		_, err = db.walFile.ReadAt(buf, off)
	} else {
		_, err = db.f.ReadAt(buf, int64(pgno-1)*int64(db.pageSize))
	}
	if err != nil {
		return fmt.Errorf("%w: reading page %d: %v", ErrMalformed, pgno, err)
	}
	return nil
}

// errStop ends a table scan early without an error.
var errStop = errors.New("stop")

// scanTable calls fn with the payload of every row of the table b-tree rooted at root, in
// rowid order. The payload is only valid during the call. A row whose payload cannot be read
// is counted in the returned number and skipped; a broken tree is an error.
func (db *sqliteDB) scanTable(root uint32, fn func(payload []byte) error) (skipped int, err error) {
	return db.scanRows(root, func(_ int64, payload []byte) error { return fn(payload) })
}

// scanRows is scanTable, fn also given each row's rowid.
func (db *sqliteDB) scanRows(root uint32, fn func(rowid int64, payload []byte) error) (skipped int, err error) {
	clear(db.visited)
	err = db.walk(root, 0, fn, &skipped)
	if err == errStop {
		err = nil
	}
	return skipped, err
}

// visit marks page pgno as read by the current scan, and fails when it already was or when
// it is not a page of the database.
func (db *sqliteDB) visit(pgno uint32) error {
	if pgno == 0 || pgno > db.nPages {
		return fmt.Errorf("%w: page %d past the end of the database (%d pages)", ErrMalformed, pgno, db.nPages)
	}
	if db.visited[pgno/64]&(1<<(pgno%64)) != 0 {
		return fmt.Errorf("%w: page %d reached twice", ErrMalformed, pgno)
	}
	db.visited[pgno/64] |= 1 << (pgno % 64)
	return nil
}

func (db *sqliteDB) walk(pgno uint32, depth int, fn func(int64, []byte) error, skipped *int) error {
	if depth >= maxTreeDepth {
		return fmt.Errorf("%w: b-tree deeper than %d", ErrMalformed, maxTreeDepth)
	}
	if err := db.visit(pgno); err != nil {
		return err
	}
	for len(db.bufs) <= depth {
		db.bufs = append(db.bufs, make([]byte, db.pageSize))
	}
	buf := db.bufs[depth]
	if err := db.page(pgno, buf); err != nil {
		return err
	}
	hdrOff := 0
	if pgno == 1 {
		hdrOff = sqliteHeaderSize
	}
	kind := buf[hdrOff]
	hdrLen := 8
	if kind == pageInteriorTable {
		hdrLen = 12
	} else if kind != pageLeafTable {
		return fmt.Errorf("%w: page %d is not a table b-tree page (type %#x)", ErrMalformed, pgno, kind)
	}
	ncells := int(binary.BigEndian.Uint16(buf[hdrOff+3:]))
	ptrs := hdrOff + hdrLen
	if ptrs+2*ncells > db.usable {
		return fmt.Errorf("%w: page %d claims %d cells", ErrMalformed, pgno, ncells)
	}
	// Cells do not overlap, so together they fit in the page's content area: cells taking
	// more overlap, as when cell pointers repeat one cell, which would otherwise hand out the
	// same payload over and over.
	free := db.usable - (ptrs + 2*ncells)
	for i := 0; i < ncells; i++ {
		cell := int(binary.BigEndian.Uint16(buf[ptrs+2*i:]))
		if cell < ptrs+2*ncells || cell >= db.usable {
			return fmt.Errorf("%w: page %d cell %d at offset %d", ErrMalformed, pgno, i, cell)
		}
		if kind == pageInteriorTable {
			if cell+4 > db.usable {
				return fmt.Errorf("%w: page %d cell %d truncated", ErrMalformed, pgno, i)
			}
			if err := db.walk(binary.BigEndian.Uint32(buf[cell:]), depth+1, fn, skipped); err != nil {
				return err
			}
			continue
		}
		rowid, payload, size, err := db.leafPayload(buf[cell:db.usable])
		if err != nil {
			*skipped++
			continue
		}
		if free -= size; free < 0 {
			return fmt.Errorf("%w: page %d has overlapping cells", ErrMalformed, pgno)
		}
		if err := fn(rowid, payload); err != nil {
			return err
		}
	}
	if kind == pageInteriorTable {
		return db.walk(binary.BigEndian.Uint32(buf[hdrOff+8:]), depth+1, fn, skipped)
	}
	return nil
}

// leafPayload returns the rowid and the whole payload of the table leaf cell at the start of
// c, following its overflow pages, and the size of the cell on its page.
func (db *sqliteDB) leafPayload(c []byte) (rowid int64, payload []byte, size int, err error) {
	plen, n := uvarint(c)
	if n == 0 {
		return 0, nil, 0, fmt.Errorf("%w: cell payload size", ErrMalformed)
	}
	id, m := uvarint(c[n:])
	if m == 0 {
		return 0, nil, 0, fmt.Errorf("%w: cell rowid", ErrMalformed)
	}
	rowid = int64(id) // a varint rowid is the two's complement of a negative one
	c = c[n+m:]
	if plen > maxPayload || plen > uint64(db.nPages)*uint64(db.usable) {
		return 0, nil, 0, fmt.Errorf("%w: payload of %d bytes", ErrMalformed, plen)
	}
	total := int(plen)
	// How much of the payload is on the leaf page (the file format's "X", "M" and "K").
	u := db.usable
	x := u - 35
	local := total
	if total > x {
		m := (u-12)*32/255 - 23
		k := m + (total-m)%(u-4)
		local = m
		if k <= x {
			local = k
		}
	}
	if local > len(c) || (local < total && local+4 > len(c)) {
		return 0, nil, 0, fmt.Errorf("%w: cell runs off its page", ErrMalformed)
	}
	size = n + m + local
	if local == total {
		return rowid, c[:total], size, nil
	}
	size += 4
	db.payload = append(db.payload[:0], c[:local]...)
	next := binary.BigEndian.Uint32(c[local:])
	if db.ovf == nil {
		db.ovf = make([]byte, db.pageSize)
	}
	// Each overflow page adds u-4 bytes, so the chain is as long as the payload needs; and
	// no page is read twice in a scan, so neither a loop in the chain nor cells sharing one
	// cost more than the chain's pages.
	for len(db.payload) < total {
		if next == 0 {
			return 0, nil, 0, fmt.Errorf("%w: overflow chain ends early", ErrMalformed)
		}
		if err := db.visit(next); err != nil {
			return 0, nil, 0, fmt.Errorf("overflow chain: %w", err)
		}
		if err := db.page(next, db.ovf); err != nil {
			return 0, nil, 0, err
		}
		chunk := db.ovf[4:u]
		if rest := total - len(db.payload); len(chunk) > rest {
			chunk = chunk[:rest]
		}
		db.payload = append(db.payload, chunk...)
		next = binary.BigEndian.Uint32(db.ovf)
	}
	return rowid, db.payload, size, nil
}

// uvarint decodes a sqlite varint (big-endian, 1 to 9 bytes, the ninth contributing all 8
// bits) and returns it with its length, 0 when b is too short.
func uvarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < 9; i++ {
		if i >= len(b) {
			return 0, 0
		}
		if i == 8 {
			return v<<8 | uint64(b[i]), 9
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// readSQLite calls fn with every header blob of rpm's sqlite database; skipped counts the rows
// that could not be read.
func readSQLite(f io.ReaderAt, size int64, wal io.ReaderAt, walSize int64, fn func(blob []byte) error) (skipped int, err error) {
	db, err := openSQLite(f, size, wal, walSize)
	if err != nil {
		return 0, err
	}
	root, err := db.tableRoot("Packages")
	if err != nil {
		return 0, err
	}
	n, err := db.scanTable(root, func(rec []byte) error {
		st, blob, err := recordColumn(rec, 1)
		if err != nil || !isBlob(st) {
			skipped++
			return nil
		}
		return fn(blob)
	})
	return skipped + n, err
}
