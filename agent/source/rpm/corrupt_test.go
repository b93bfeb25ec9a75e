package rpm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

// readResult is what a reader made of a corrupt file.
type readResult struct {
	blobs     int
	blobBytes int
	skipped   int
	err       error
	read      int64 // bytes read from the files
}

// readAll runs one of the readers over db (and wal, for sqlite) through a countingReader.
func readAll(fm format, db, wal []byte) readResult {
	var res readResult
	fn := func(b []byte) error {
		res.blobs++
		res.blobBytes += len(b)
		return nil
	}
	c := &countingReader{r: bytes.NewReader(db)}
	w := &countingReader{r: bytes.NewReader(wal)}
	switch fm {
	case formatSQLite:
		res.skipped, res.err = readSQLite(c, int64(len(db)), w, int64(len(wal)), fn)
	case formatBDB:
		res.skipped, res.err = readBDB(c, int64(len(db)), fn)
	case formatNDB:
		res.skipped, res.err = readNDB(c, int64(len(db)), fn)
	}
	res.read = c.n + w.n
	return res
}

// checkLinear fails when reading input bytes cost more than reading each part of the file
// a few times, or handed out more bytes than the input holds: a corrupt file must not cost
// time quadratic in its size.
func checkLinear(t *testing.T, res readResult, input int) {
	t.Helper()
	if res.read > 3*int64(input)+1024 {
		t.Errorf("read %d bytes from %d bytes of input", res.read, input)
	}
	if res.blobBytes > input {
		t.Errorf("returned %d bytes of blobs from %d bytes of input", res.blobBytes, input)
	}
}

// sqliteLeaf makes p a table leaf page whose ncells cell pointers all point to one cell.
func sqliteLeaf(p []byte, cell []byte, ncells int) {
	off := testPageSize - len(cell)
	copy(p[off:], cell)
	p[0] = pageLeafTable
	binary.BigEndian.PutUint16(p[3:], uint16(ncells))
	binary.BigEndian.PutUint16(p[5:], uint16(off))
	for i := range ncells {
		binary.BigEndian.PutUint16(p[8+2*i:], uint16(off))
	}
}

// overflowCell is a leaf cell whose payload of plen bytes keeps 39 bytes on the leaf page
// (the least sqlite keeps with 512-byte pages) and continues on page first.
func overflowCell(plen int, first uint32) []byte {
	const u = testPageSize
	if m := (u-12)*32/255 - 23; m != 39 || (plen-m)%(u-4) <= u-35-m {
		panic("payload size does not leave the minimum on the page")
	}
	c := sqliteVarint(nil, uint64(plen))
	c = sqliteVarint(c, 1)
	c = append(c, make([]byte, 39)...)
	return binary.BigEndian.AppendUint32(c, first)
}

// sqliteSharedOverflow builds a database whose Packages table has leaves leaf pages under its
// root, each with cells cell pointers to one cell whose payload, of chain overflow pages and
// more, continues on page 3, which continues on itself.
func sqliteSharedOverflow(leaves, cells, chain int) []byte {
	d := &sqliteDoc{}
	for range max(3+leaves, chain+3) {
		d.newPage()
	}
	binary.BigEndian.PutUint32(d.page(3), 3)
	cell := overflowCell(39+508*chain+450, 3)
	var children [][]byte
	for pg := uint32(4); pg < uint32(4+leaves); pg++ {
		sqliteLeaf(d.page(pg), cell, cells)
		children = append(children, sqliteVarint(binary.BigEndian.AppendUint32(nil, pg), 1))
	}
	d.putPage(2, 0, pageInteriorTable, uint32(4+leaves-1), children[:len(children)-1])
	return d.finish(2, false)
}

func TestSQLiteCorrupt(t *testing.T) {
	blob := buildHeader(baseEntries...)
	tests := []struct {
		name    string
		build   func() []byte
		wantErr bool
		skipped int // -1: any
	}{
		{
			// Without the visited check on overflow pages, each of the 70*200 cells read the
			// loop for as long as its payload (300 pages): 4 million page reads, 2 GB, for a
			// file of 200 KiB.
			name:    "cells sharing one overflow loop",
			build:   func() []byte { return sqliteSharedOverflow(70, 200, 300) },
			skipped: 70 * 200,
		},
		{
			name: "overflow chain loop",
			build: func() []byte {
				d := &sqliteDoc{}
				for range 10 {
					d.newPage()
				}
				binary.BigEndian.PutUint32(d.page(3), 4)
				binary.BigEndian.PutUint32(d.page(4), 3)
				sqliteLeaf(d.page(2), overflowCell(39+508*3+450, 3), 1)
				return d.finish(2, false)
			},
			skipped: 1,
		},
		{
			name: "overflow chain into the leaf",
			build: func() []byte {
				d := &sqliteDoc{}
				for range 10 {
					d.newPage()
				}
				binary.BigEndian.PutUint32(d.page(3), 2)
				sqliteLeaf(d.page(2), overflowCell(39+508*3+450, 3), 1)
				return d.finish(2, false)
			},
			skipped: 1,
		},
		{
			// Without the check on the space the cells take, the same header was handed out
			// 100 times, 10 KiB from a 1 KiB file.
			name: "cell pointers repeating one cell",
			build: func() []byte {
				d := &sqliteDoc{}
				d.newPage()
				d.newPage()
				sqliteLeaf(d.page(2), d.leafCell(1, sqliteRecord(nil, blob)), 100)
				return d.finish(2, false)
			},
			wantErr: true, skipped: -1,
		},
		{
			name: "interior pages in a loop",
			build: func() []byte {
				d := &sqliteDoc{}
				for range 3 {
					d.newPage()
				}
				d.putPage(2, 0, pageInteriorTable, 3, nil)
				d.putPage(3, 0, pageInteriorTable, 2, nil)
				return d.finish(2, false)
			},
			wantErr: true, skipped: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := tt.build()
			res := readAll(formatSQLite, db, nil)
			t.Logf("%d bytes: %+v (%v)", len(db), res, res.err)
			if (res.err != nil) != tt.wantErr || (res.err != nil && !errors.Is(res.err, ErrMalformed)) {
				t.Errorf("error %v, want one: %v", res.err, tt.wantErr)
			}
			if tt.skipped >= 0 && res.skipped != tt.skipped {
				t.Errorf("skipped %d, want %d", res.skipped, tt.skipped)
			}
			checkLinear(t, res, len(db))
		})
	}
}

// TestSQLiteBuilt checks the test databases (the fuzz seeds) read back whole, with and
// without a WAL.
func TestSQLiteBuilt(t *testing.T) {
	blobs := testBlobs()
	// One leaf page, and several under an interior page.
	for _, rows := range [][][]byte{blobs[:1], slices.Concat(blobs, blobs, blobs, blobs)} {
		db := sqliteFile(false, rows...)
		var got [][]byte
		skipped, err := readSQLite(bytes.NewReader(db), int64(len(db)), nil, 0, func(b []byte) error {
			got = append(got, bytes.Clone(b))
			return nil
		})
		if err != nil || skipped != 0 || len(got) != len(rows) {
			t.Fatalf("%d blobs, %d skipped, %v; want %d", len(got), skipped, err, len(rows))
		}
		for i := range got {
			if !bytes.Equal(got[i], rows[i]) {
				t.Errorf("blob %d differs", i)
			}
		}
	}
	old, cur := sqliteFile(true, blobs[:2]...), sqliteFile(true, blobs[2:]...)
	res := readAll(formatSQLite, old, sqliteWAL(cur))
	if res.err != nil || res.skipped != 0 || res.blobs != len(blobs)-2 {
		t.Errorf("with the WAL: %+v; want %d blobs", res, len(blobs)-2)
	}
}

// testBlobs are headers of growing sizes, the larger ones on overflow pages.
func testBlobs() [][]byte {
	var blobs [][]byte
	for _, n := range []int{0, 10, 100, 400, 1200} {
		e := append(append([]entry{}, baseEntries...), entry{tagSummary, strings.Repeat("s", n)},
			entry{tagInstallTime, uint32(1700000000)})
		blobs = append(blobs, buildHeader(e...))
	}
	return blobs
}

// bdbSharedOverflow builds a Berkeley DB hash file of 512-byte pages: hashPages hash pages
// holding pairs keyed 1, 2, ... whose values are all off-page items of total bytes
// starting on page loop, an overflow page continuing on itself (unless it is a hash page),
// filled up to lastPage. It returns the file and the number of pairs.
func bdbSharedOverflow(hashPages, lastPage int, loop uint32, total uint32) (f []byte, pairs int) {
	le := binary.LittleEndian
	f = make([]byte, (lastPage+1)*testPageSize)
	le.PutUint32(f[12:], bdbHashMagic)
	le.PutUint32(f[20:], testPageSize)
	f[25] = bdbMetaHash
	le.PutUint32(f[32:], uint32(lastPage))
	key := uint32(1)
	for pg := 1; pg <= hashPages; pg++ {
		p := f[pg*testPageSize:][:testPageSize]
		p[25] = bdbPageHash
		end, i := testPageSize, 0
		for ; bdbPageHeader+2*(i+2) <= end-17; i += 2 {
			end -= 5
			p[end] = bdbKeyData
			le.PutUint32(p[end+1:], key)
			le.PutUint16(p[bdbPageHeader+2*i:], uint16(end))
			end -= 12
			p[end] = bdbOffPage
			le.PutUint32(p[end+4:], loop)
			le.PutUint32(p[end+8:], total)
			le.PutUint16(p[bdbPageHeader+2*(i+1):], uint16(end))
			key++
			pairs++
		}
		le.PutUint16(p[20:], uint16(i))
	}
	if int(loop) > hashPages {
		o := f[int(loop)*testPageSize:][:testPageSize]
		o[25] = bdbPageOverflow
		le.PutUint32(o[16:], loop)
		le.PutUint16(o[22:], testPageSize-bdbPageHeader)
	}
	return f, pairs
}

func TestBDBCorrupt(t *testing.T) {
	tests := []struct {
		name                string
		hashPages, lastPage int
		loop                uint32
		total               uint32
	}{
		// Without the check, each of the 2,300 values read the loop 300 times: 350 MB read
		// from a 150 KiB file.
		{"values sharing one overflow loop", 100, 300, 300, 299 * (testPageSize - bdbPageHeader)},
		{"overflow loop", 1, 10, 10, 9 * (testPageSize - bdbPageHeader)},
		{"overflow chain into a hash page", 1, 10, 1, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, pairs := bdbSharedOverflow(tt.hashPages, tt.lastPage, tt.loop, tt.total)
			res := readAll(formatBDB, db, nil)
			t.Logf("%d bytes: %+v", len(db), res)
			if res.err != nil || res.skipped != pairs || res.blobs != 0 {
				t.Errorf("%+v, want %d skipped", res, pairs)
			}
			checkLinear(t, res, len(db))
		})
	}

	// Sound off-page values are still read, each once.
	blobs := testBlobs()
	db := bdbHashFile([]uint32{0, 1, 2, 3}, []bdbValue{{data: []byte{4, 0, 0, 0}}, {data: blobs[0]},
		{data: blobs[3], offPage: true}, {data: blobs[4], offPage: true}})
	res := readAll(formatBDB, db, nil)
	if res.err != nil || res.skipped != 0 || res.blobs != 3 || res.blobBytes != len(blobs[0])+len(blobs[3])+len(blobs[4]) {
		t.Errorf("sound file: %+v", res)
	}
	checkLinear(t, res, len(db))
}

// ndbOverlap moves the blob of the second slot of f one block down, over the end of the
// first.
func ndbOverlap(f []byte) []byte {
	s := f[ndbHeaderSize+ndbSlotSize:]
	binary.LittleEndian.PutUint32(s[8:], binary.LittleEndian.Uint32(s[8:])-1)
	return f
}

func TestNDBCorrupt(t *testing.T) {
	le := binary.LittleEndian
	blobs := testBlobs()
	slot := func(f []byte, i int) []byte { return f[ndbHeaderSize+ndbSlotSize*i:] }
	tests := []struct {
		name    string
		build   func() []byte
		blobs   int
		skipped int
	}{
		{
			// Without the check, 1,000 slots each read and checksummed the 256 KiB blob:
			// 256 MB read from a 270 KiB file.
			name: "slots sharing one blob",
			build: func() []byte {
				big := buildHeader(append(append([]entry{}, baseEntries...), entry{tagSummary, strings.Repeat("s", 256<<10)})...)
				f := ndbFile(big)
				slots := make([]byte, 3*ndbPageSize)
				for o := 0; o < len(slots); o += ndbSlotSize {
					le.PutUint32(slots[o:], ndbSlotMagic)
				}
				f = append(f[:ndbPageSize], append(slots, f[ndbPageSize:]...)...)
				le.PutUint32(f[12:], 4)
				for i := 0; i < 1000; i++ {
					s := slot(f, i)
					le.PutUint32(s, ndbSlotMagic)
					copy(s[4:], slot(f, 0)[4:16])
					le.PutUint32(s[8:], 4*ndbPageSize/ndbBlockSize)
				}
				return f
			},
			blobs: 1, skipped: 999,
		},
		{
			name:  "overlapping slots",
			build: func() []byte { return ndbOverlap(ndbFile(blobs[1], blobs[2])) },
			blobs: 1, skipped: 1,
		},
		{
			name: "slots out of file order",
			build: func() []byte {
				f := ndbFile(blobs[1], blobs[2], blobs[3])
				s0, s2 := bytes.Clone(slot(f, 0)[:ndbSlotSize]), bytes.Clone(slot(f, 2)[:ndbSlotSize])
				copy(slot(f, 0), s2)
				copy(slot(f, 2), s0)
				return f
			},
			blobs: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := tt.build()
			res := readAll(formatNDB, db, nil)
			t.Logf("%d bytes: %+v", len(db), res)
			if res.err != nil || res.blobs != tt.blobs || res.skipped != tt.skipped {
				t.Errorf("%+v, want %d blobs and %d skipped", res, tt.blobs, tt.skipped)
			}
			checkLinear(t, res, len(db))
		})
	}
}
