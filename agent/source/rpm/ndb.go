package rpm

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/adler32"
	"io"
	"slices"
)

// This file reads rpm's ndb Packages.db (SUSE), laid out as rpm's lib/backend/ndb/rpmpkg.c
// writes it: a 32-byte header, slot pages of 16-byte slots (the first two slots are the
// header) each locating one blob in 16-byte blocks, and blobs framed by a head (magic,
// package index, timestamp, length) and a tail (adler32 of head, blob and padding; length;
// magic). Everything is little-endian.

const (
	ndbMagic       = 'R' | 'p'<<8 | 'm'<<16 | 'P'<<24
	ndbSlotMagic   = 'S' | 'l'<<8 | 'o'<<16 | 't'<<24
	ndbBlobHead    = 'B' | 'l'<<8 | 'b'<<16 | 'S'<<24
	ndbBlobTail    = 'B' | 'l'<<8 | 'b'<<16 | 'E'<<24
	ndbHeaderSize  = 32
	ndbPageSize    = 4096
	ndbSlotSize    = 16
	ndbBlockSize   = 16
	ndbHeadSize    = 16
	ndbTailSize    = 12
	ndbMaxSlotPage = 2048 // 520,000 packages
)

// readNDB calls fn with every header blob of the ndb file f (size bytes).
func readNDB(f io.ReaderAt, size int64, fn func(blob []byte) error) (skipped int, err error) {
	var hdr [ndbHeaderSize]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return 0, fmt.Errorf("%w: ndb header: %v", ErrMalformed, err)
	}
	le := binary.LittleEndian
	if le.Uint32(hdr[:]) != ndbMagic {
		return 0, fmt.Errorf("%w: not an ndb database", ErrMalformed)
	}
	if v := le.Uint32(hdr[4:]); v != 0 {
		return 0, fmt.Errorf("%w: unsupported ndb version %d", ErrMalformed, v)
	}
	slotPages := le.Uint32(hdr[12:])
	if slotPages == 0 || slotPages > ndbMaxSlotPage || int64(slotPages)*ndbPageSize > size {
		return 0, fmt.Errorf("%w: ndb with %d slot pages in %d bytes", ErrMalformed, slotPages, size)
	}
	slots := make([]byte, int(slotPages)*ndbPageSize)
	if _, err := f.ReadAt(slots, 0); err != nil {
		return 0, fmt.Errorf("%w: ndb slots: %v", ErrMalformed, err)
	}
	fileBlocks := uint64(size / ndbBlockSize)
	firstBlock := uint64(slotPages) * (ndbPageSize / ndbBlockSize)
	var used []ndbSlot
	for o := ndbHeaderSize; o < len(slots); o += ndbSlotSize {
		s := slots[o : o+ndbSlotSize]
		if le.Uint32(s) != ndbSlotMagic {
			return 0, fmt.Errorf("%w: ndb slot at %d has a bad magic", ErrMalformed, o)
		}
		pkgIdx, blkOff, blkCnt := le.Uint32(s[4:]), le.Uint32(s[8:]), le.Uint32(s[12:])
		if blkOff == 0 {
			continue // free slot
		}
		if pkgIdx == 0 || blkCnt == 0 || uint64(blkOff) < firstBlock || uint64(blkOff)+uint64(blkCnt) > fileBlocks ||
			uint64(blkCnt)*ndbBlockSize > maxPayload+ndbHeadSize+ndbTailSize+ndbBlockSize {
			skipped++
			continue
		}
		used = append(used, ndbSlot{pkgIdx: pkgIdx, blkOff: blkOff, blkCnt: blkCnt})
	}
	skipped += skipOverlaps(used)
	var buf []byte
	for _, sl := range used {
		if sl.blkCnt == 0 {
			continue // overlaps another
		}
		n := int(sl.blkCnt) * ndbBlockSize
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := f.ReadAt(buf, int64(sl.blkOff)*ndbBlockSize); err != nil {
			return skipped, fmt.Errorf("%w: reading ndb blob %d: %v", ErrMalformed, sl.pkgIdx, err)
		}
		blob, ok := ndbBlob(buf, sl.pkgIdx)
		if !ok {
			skipped++
			continue
		}
		if err := fn(blob); err != nil {
			return skipped, err
		}
	}
	return skipped, nil
}

// ndbSlot locates one blob: blkCnt blocks from block blkOff.
type ndbSlot struct {
	pkgIdx, blkOff, blkCnt uint32
}

// skipOverlaps clears the block count of each slot whose blocks overlap those of a slot
// before it in the file, and returns how many it cleared. rpm gives every blob blocks of its
// own; without this, a small corrupt file whose slots all point at its largest blob would
// cost reading that blob once per slot, time quadratic in the size of the file.
func skipOverlaps(slots []ndbSlot) int {
	byOff := make([]int, len(slots))
	for i := range byOff {
		byOff[i] = i
	}
	slices.SortFunc(byOff, func(a, b int) int {
		return cmp.Or(cmp.Compare(slots[a].blkOff, slots[b].blkOff), cmp.Compare(a, b))
	})
	var end uint64
	n := 0
	for _, i := range byOff {
		s := &slots[i]
		if uint64(s.blkOff) < end {
			s.blkCnt = 0
			n++
			continue
		}
		end = uint64(s.blkOff) + uint64(s.blkCnt)
	}
	return n
}

// ndbBlob checks the head and tail of the blocks b of package pkgIdx and returns the blob.
func ndbBlob(b []byte, pkgIdx uint32) ([]byte, bool) {
	le := binary.LittleEndian
	if len(b) < ndbHeadSize+ndbTailSize || le.Uint32(b) != ndbBlobHead || le.Uint32(b[4:]) != pkgIdx {
		return nil, false
	}
	blobLen := uint64(le.Uint32(b[12:]))
	if (ndbHeadSize+blobLen+ndbTailSize+ndbBlockSize-1)/ndbBlockSize != uint64(len(b)/ndbBlockSize) {
		return nil, false
	}
	tail := b[len(b)-ndbTailSize:]
	if le.Uint32(tail[8:]) != ndbBlobTail || uint64(le.Uint32(tail[4:])) != blobLen ||
		le.Uint32(tail) != adler32.Checksum(b[:len(b)-ndbTailSize]) {
		return nil, false
	}
	return b[ndbHeadSize : ndbHeadSize+blobLen], true
}
