package rpm

import (
	"encoding/binary"
	"fmt"
	"io"
)

// This file reads rpm's Berkeley DB Packages file (rpm < 4.16: RHEL/CentOS 7 and 8, Amazon
// Linux 2): a Berkeley DB hash database whose keys are header numbers and whose values are
// header blobs. It walks the hash pages in file order and follows each value's overflow pages,
// as db_dump does for a salvage, without Berkeley DB's environment, locks or region files.

const (
	bdbMetaSize     = 512
	bdbPageHeader   = 26
	bdbHashMagic    = 0x061561
	bdbMetaHash     = 8  // page type of the hash metadata page
	bdbPageHashOld  = 2  // P_HASH_UNSORTED, written before Berkeley DB 4.6
	bdbPageOverflow = 7  // P_OVERFLOW
	bdbPageHash     = 13 // P_HASH
	bdbKeyData      = 1  // H_KEYDATA: the item is on the page
	bdbOffPage      = 3  // H_OFFPAGE: the item is on a chain of overflow pages
	bdbMaxPages     = 1 << 22
)

// readBDB calls fn with every header blob of the Berkeley DB hash file f (size bytes).
func readBDB(f io.ReaderAt, size int64, fn func(blob []byte) error) (skipped int, err error) {
	var meta [bdbMetaSize]byte
	if _, err := f.ReadAt(meta[:], 0); err != nil {
		return 0, fmt.Errorf("%w: Berkeley DB metadata: %v", ErrMalformed, err)
	}
	var order binary.ByteOrder = binary.LittleEndian
	switch {
	case binary.LittleEndian.Uint32(meta[12:]) == bdbHashMagic:
	case binary.BigEndian.Uint32(meta[12:]) == bdbHashMagic:
		order = binary.BigEndian
	default:
		return 0, fmt.Errorf("%w: not a Berkeley DB hash database", ErrMalformed)
	}
	pageSize := order.Uint32(meta[20:])
	if pageSize < 512 || pageSize > 65536 || pageSize&(pageSize-1) != 0 {
		return 0, fmt.Errorf("%w: Berkeley DB page size %d", ErrMalformed, pageSize)
	}
	if meta[24] != 0 {
		return 0, fmt.Errorf("%w: encrypted Berkeley DB database", ErrMalformed)
	}
	if meta[25] != bdbMetaHash {
		return 0, fmt.Errorf("%w: Berkeley DB metadata page type %d", ErrMalformed, meta[25])
	}
	if meta[26]&1 != 0 {
		return 0, fmt.Errorf("%w: Berkeley DB database with page checksums is not supported", ErrMalformed)
	}
	lastPage := order.Uint32(meta[32:])
	if int64(lastPage) >= size/int64(pageSize) || lastPage > bdbMaxPages {
		return 0, fmt.Errorf("%w: Berkeley DB last page %d past the end of the file", ErrMalformed, lastPage)
	}
	r := bdbReader{f: f, order: order, pageSize: int(pageSize), lastPage: lastPage,
		overflow: make([]uint64, lastPage/64+1)}
	page := make([]byte, pageSize)
	r.ovf = make([]byte, pageSize)
	for pgno := uint32(1); pgno <= lastPage; pgno++ {
		if _, err := f.ReadAt(page, int64(pgno)*int64(pageSize)); err != nil {
			return skipped, fmt.Errorf("%w: reading page %d: %v", ErrMalformed, pgno, err)
		}
		if t := page[25]; t != bdbPageHash && t != bdbPageHashOld {
			continue
		}
		entries := int(order.Uint16(page[20:]))
		if entries%2 != 0 || bdbPageHeader+2*entries > int(pageSize) {
			skipped++
			continue
		}
		for i := 0; i < entries; i += 2 {
			key, kerr := r.item(page, entries, i)
			val, verr := r.item(page, entries, i+1)
			if kerr != nil || verr != nil || len(key) == 0 || len(val) == 0 {
				skipped++
				continue
			}
			// Record 0 holds the last header number rpm handed out, not a header.
			if key[0] == bdbKeyData && len(key) == 5 && order.Uint32(key[1:]) == 0 {
				continue
			}
			blob, err := r.value(val)
			if err != nil {
				skipped++
				continue
			}
			if err := fn(blob); err != nil {
				return skipped, err
			}
		}
	}
	return skipped, nil
}

type bdbReader struct {
	f        io.ReaderAt
	order    binary.ByteOrder
	pageSize int
	lastPage uint32
	ovf      []byte
	val      []byte
	// overflow holds the overflow pages read: each belongs to the chain of one value in a
	// sound file, so a page reached again is a loop or a chain shared by several items,
	// which would otherwise cost a read of the chain per item: time quadratic in the size of
	// the file.
	overflow []uint64
}

// item returns item i of a hash page: items are stored from the end of the page down, so
// an item ends where the one before it starts.
func (r *bdbReader) item(page []byte, entries, i int) ([]byte, error) {
	start := int(r.order.Uint16(page[bdbPageHeader+2*i:]))
	end := r.pageSize
	if i > 0 {
		end = int(r.order.Uint16(page[bdbPageHeader+2*(i-1):]))
	}
	if start < bdbPageHeader+2*entries || start >= end || end > r.pageSize {
		return nil, fmt.Errorf("%w: hash item %d at %d-%d", ErrMalformed, i, start, end)
	}
	return page[start:end], nil
}

// value returns the data of a hash value item, reading its overflow chain if it has one.
func (r *bdbReader) value(item []byte) ([]byte, error) {
	switch item[0] {
	case bdbKeyData:
		return item[1:], nil
	case bdbOffPage:
	default:
		return nil, fmt.Errorf("%w: hash item type %d", ErrMalformed, item[0])
	}
	if len(item) < 12 {
		return nil, fmt.Errorf("%w: short off-page item", ErrMalformed)
	}
	next := r.order.Uint32(item[4:])
	total := int(r.order.Uint32(item[8:]))
	if total > maxPayload || total > int(r.lastPage)*(r.pageSize-bdbPageHeader) {
		return nil, fmt.Errorf("%w: value of %d bytes", ErrMalformed, total)
	}
	r.val = r.val[:0]
	for pages := 0; len(r.val) < total; pages++ {
		if next == 0 || next > r.lastPage || pages > total/(r.pageSize-bdbPageHeader)+1 {
			return nil, fmt.Errorf("%w: overflow chain", ErrMalformed)
		}
		if r.overflow[next/64]&(1<<(next%64)) != 0 {
			return nil, fmt.Errorf("%w: overflow page %d reached twice", ErrMalformed, next)
		}
		r.overflow[next/64] |= 1 << (next % 64)
		if _, err := r.f.ReadAt(r.ovf, int64(next)*int64(r.pageSize)); err != nil {
			return nil, fmt.Errorf("%w: reading overflow page %d: %v", ErrMalformed, next, err)
		}
		if r.ovf[25] != bdbPageOverflow {
			return nil, fmt.Errorf("%w: page %d is not an overflow page", ErrMalformed, next)
		}
		// On overflow pages the "high free offset" field holds the bytes used.
		n := int(r.order.Uint16(r.ovf[22:]))
		if n > r.pageSize-bdbPageHeader || n > total-len(r.val) {
			return nil, fmt.Errorf("%w: overflow page %d holds %d bytes", ErrMalformed, next, n)
		}
		r.val = append(r.val, r.ovf[bdbPageHeader:bdbPageHeader+n]...)
		next = r.order.Uint32(r.ovf[16:])
	}
	return r.val, nil
}
