package container

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"

	"github.com/onus-project/onus/agent/hostfs"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// viewBolt runs fn on the bolt database at the host path p, read only. The runtime that owns
// the database may hold its lock (containerd does as long as it runs): when the shared lock
// is not had within lockWait, the file, at most maxDB bytes, is copied and the copy read. A
// database bolt cannot make sense of fails, never panics the agent: bolt trusts its file, so
// its tree is walked first (checkBolt), and a fault reading the mapped file is a panic.
func viewBolt(root hostfs.Root, p string, fn func(*bolt.Tx) error) (err error) {
	rp, err := root.Resolve(p)
	if err != nil {
		return err
	}
	fi, err := os.Stat(rp)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", p)
	}
	if fi.Size() > maxDB {
		return fmt.Errorf("%s: %w (%d > %d bytes)", p, hostfs.ErrTooLarge, fi.Size(), maxDB)
	}
	db, err := bolt.Open(rp, 0, &bolt.Options{ReadOnly: true, Timeout: lockWait})
	if errors.Is(err, bolterrors.ErrTimeout) {
		rp, err = copyFile(rp, p)
		if err != nil {
			return err
		}
		defer os.Remove(rp)
		db, err = bolt.Open(rp, 0, &bolt.Options{ReadOnly: true, Timeout: lockWait})
	}
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	defer db.Close()
	if err := checkBolt(rp); err != nil {
		return fmt.Errorf("%s: corrupt database: %w", p, err)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: corrupt database: %v", p, r)
		}
	}()
	return db.View(fn)
}

// copyFile copies the database at rp (host path p) to a temporary file, at most maxDB bytes.
func copyFile(rp, p string) (string, error) {
	src, err := os.Open(rp)
	if err != nil {
		return "", err
	}
	defer src.Close()
	dst, err := os.CreateTemp("", "onus-bolt-*.db")
	if err != nil {
		return "", err
	}
	n, err := io.Copy(dst, io.LimitReader(src, maxDB+1))
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > maxDB {
		err = fmt.Errorf("%s: %w", p, hostfs.ErrTooLarge)
	}
	if err != nil {
		os.Remove(dst.Name())
		return "", err
	}
	return dst.Name(), nil
}

// The parts of bolt's file format (go.etcd.io/bbolt/internal/common) checkBolt reads: pages
// of a 16-byte header (id, flags, count, overflow) then count 16-byte elements; a branch
// element is (pos, ksize, child page), a leaf element (flags, pos, ksize, vsize), its key at
// pos from the element and its value after the key; a bucket's value starts with its root
// page, 0 for an inline bucket whose leaf page follows the 16-byte bucket header.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	boltBranch     = 0x01
	boltLeaf       = 0x02
	boltBucketFlag = 0x01
	boltHeader     = 16
	boltMaxDepth   = 64
)

// boltFile is a bolt database being checked.
type boltFile struct {
	f           *os.File
	size, psize int64
	hwm         uint64   // the meta's page count: no page is at or past it
	seen        []uint64 // a bit for each page of the file, set once the page is walked
	bufs        [boltMaxDepth + 1][]byte
}

// checkBolt walks the bolt database at path as bolt's cursors would, from the root bucket of
// the meta page bolt uses down to every leaf of every bucket, and fails on what would have
// bolt loop, read past the file or past a page: a page referenced twice (a cycle), a page
// out of the file or not a tree page, an element or a key out of its page, a tree deeper
// than boltMaxDepth. Each page is read once: the time is that of reading the file.
func checkBolt(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	b := &boltFile{f: f, size: fi.Size()}
	root, err := b.meta()
	if err != nil {
		return err
	}
	b.seen = make([]uint64, b.size/b.psize/64+1)
	return b.page(root, 0)
}

// meta finds the page size as bolt does (the first valid meta page's, else that of the
// first valid one at 1 KiB << i) and returns the root page of the meta bolt uses: the one of
// pages 0 and 1 with the higher transaction ID that is valid.
func (b *boltFile) meta() (uint64, error) {
	type meta struct {
		ok              bool
		psize           int64
		root, hwm, txid uint64
	}
	read := func(off int64) meta {
		var h [boltHeader + 64]byte
		if _, err := b.f.ReadAt(h[:], off); err != nil {
			return meta{}
		}
		m := h[boltHeader:]
		sum := fnv.New64a()
		sum.Write(m[:56])
		le := binary.NativeEndian
		return meta{ok: le.Uint32(m) == boltMagic && le.Uint32(m[4:]) == boltVersion && le.Uint64(m[56:]) == sum.Sum64(),
			psize: int64(le.Uint32(m[8:])), root: le.Uint64(m[16:]), hwm: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}
	}
	m0 := read(0)
	b.psize = m0.psize
	for i := 0; !m0.ok && i <= 14; i++ {
		if m := read(1024 << i); m.ok {
			b.psize = m.psize
			break
		}
	}
	if b.psize < 1024 || b.psize > 1<<24 {
		return 0, fmt.Errorf("page size %d", b.psize)
	}
	m0, m1 := read(0), read(b.psize)
	if m1.txid > m0.txid {
		m0, m1 = m1, m0
	}
	if !m0.ok {
		m0 = m1
	}
	if !m0.ok {
		return 0, errors.New("no valid meta page")
	}
	b.hwm = m0.hwm
	return m0.root, nil
}

// page checks the tree page id at depth and what it leads to.
func (b *boltFile) page(id uint64, depth int) error {
	if id < 2 || id >= b.hwm || id >= uint64(b.size/b.psize) || depth > boltMaxDepth {
		return fmt.Errorf("page %d: out of the file or too deep", id)
	}
	// The buffer of a depth is free again once its page's elements are checked.
	buf := grow(b.bufs[depth], b.psize)
	if _, err := b.f.ReadAt(buf, int64(id)*b.psize); err != nil {
		return err
	}
	n := uint64(binary.NativeEndian.Uint32(buf[12:])) + 1 // with its overflow pages
	if binary.NativeEndian.Uint64(buf) != id || id+n > b.hwm || (id+n)*uint64(b.psize) > uint64(b.size) {
		return fmt.Errorf("page %d: bad header", id)
	}
	for i := id; i < id+n; i++ {
		if b.seen[i/64]&(1<<(i%64)) != 0 {
			return fmt.Errorf("page %d: referenced twice", i)
		}
		b.seen[i/64] |= 1 << (i % 64)
	}
	if n > 1 {
		buf = grow(buf, int64(n)*b.psize)
		if _, err := b.f.ReadAt(buf[b.psize:], (int64(id)+1)*b.psize); err != nil {
			return err
		}
	}
	b.bufs[depth] = buf
	return b.elements(buf, depth, false)
}

// grow returns buf resized to n bytes, its first len(buf) kept.
func grow(buf []byte, n int64) []byte {
	if int64(cap(buf)) < n {
		return append(buf, make([]byte, n-int64(len(buf)))...)
	}
	return buf[:n]
}

// elements checks the elements of the page p (an inline bucket's when inline) and follows
// its references.
func (b *boltFile) elements(p []byte, depth int, inline bool) error {
	le := binary.NativeEndian
	if len(p) < boltHeader || depth > boltMaxDepth {
		return errors.New("short page or too deep a tree")
	}
	flags, count := le.Uint16(p[8:]), uint64(le.Uint16(p[10:]))
	if boltHeader+16*count > uint64(len(p)) || flags != boltLeaf && (inline || flags != boltBranch || count == 0) {
		return fmt.Errorf("page of type %#x with %d elements", flags, count)
	}
	for i := range count {
		e := boltHeader + 16*i
		if flags == boltBranch {
			pos, ksize := uint64(le.Uint32(p[e:])), uint64(le.Uint32(p[e+4:]))
			if e+pos+ksize > uint64(len(p)) {
				return errors.New("branch key out of its page")
			}
			if err := b.page(le.Uint64(p[e+8:]), depth+1); err != nil {
				return err
			}
			continue
		}
		pos, ksize, vsize := uint64(le.Uint32(p[e+4:])), uint64(le.Uint32(p[e+8:])), uint64(le.Uint32(p[e+12:]))
		end := e + pos + ksize + vsize
		if end > uint64(len(p)) {
			return errors.New("leaf key or value out of its page")
		}
		if le.Uint32(p[e:])&boltBucketFlag == 0 {
			continue
		}
		v := p[end-vsize : end]
		if len(v) < boltHeader {
			return errors.New("short bucket value")
		}
		if root := le.Uint64(v); root != 0 {
			if err := b.page(root, depth+1); err != nil {
				return err
			}
		} else if err := b.elements(v[boltHeader:], depth+1, true); err != nil {
			return err
		}
	}
	return nil
}
