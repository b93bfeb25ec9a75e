package rpm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"testing"
)

func readFixture(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureBlobs returns the header blobs of the rocky9 database.
func fixtureBlobs(t testing.TB) [][]byte {
	db := readFixture(t, roots+"/rocky9/var/lib/rpm/rpmdb.sqlite")
	var blobs [][]byte
	if _, err := readSQLite(bytes.NewReader(db), int64(len(db)), nil, 0, func(b []byte) error {
		blobs = append(blobs, bytes.Clone(b))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return blobs
}

// bdbFile builds a Berkeley DB hash file of 512-byte pages with one hash page holding the
// given key/value pairs as on-page items.
func bdbFile(pairs ...[2][]byte) []byte {
	const ps = 512
	f := make([]byte, 2*ps)
	le := binary.LittleEndian
	le.PutUint32(f[12:], bdbHashMagic)
	le.PutUint32(f[16:], 9)
	le.PutUint32(f[20:], ps)
	f[25] = bdbMetaHash
	le.PutUint32(f[32:], 1)
	p := f[ps:]
	le.PutUint32(p[8:], 1)
	p[25] = bdbPageHash
	le.PutUint16(p[20:], uint16(2*len(pairs)))
	end := ps
	for i, kv := range pairs {
		for j, item := range kv {
			start := end - 1 - len(item)
			p[start] = bdbKeyData
			copy(p[start+1:], item)
			le.PutUint16(p[bdbPageHeader+2*(2*i+j):], uint16(start))
			end = start
		}
	}
	le.PutUint16(p[22:], uint16(end))
	return f
}

func TestBDBOnPage(t *testing.T) {
	blob := buildHeader(baseEntries...)
	f := bdbFile([2][]byte{{1, 0, 0, 0}, blob}, [2][]byte{{0, 0, 0, 0}, {1, 0, 0, 0}}, [2][]byte{{2, 0, 0, 0}, {9, 9}})
	var got [][]byte
	skipped, err := readBDB(bytes.NewReader(f), int64(len(f)), func(b []byte) error {
		got = append(got, bytes.Clone(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Record 0 is not a header; the third value is returned and fails as a header later.
	if len(got) != 2 || !bytes.Equal(got[0], blob) || skipped != 0 {
		t.Errorf("got %d blobs (first %x), %d skipped; want the header and one bad value", len(got), got, skipped)
	}
}

func FuzzParseHeader(f *testing.F) {
	for _, b := range fixtureBlobs(f) {
		f.Add(b)
	}
	f.Add(buildHeader(baseEntries...))
	f.Add(buildHeader(append(append([]entry{}, baseEntries...), entry{tagEpoch, uint32(3)}, entry{tagLongSize, uint64(1)})...))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h header
		if err := parseHeader(b, &h); err != nil {
			return
		}
		if len(h.name) == 0 || len(h.version) == 0 {
			t.Fatal("accepted a header without name or version")
		}
		p := toPkg(&h)
		for _, s := range []string{p.Name, p.Arch, p.Vendor, p.Maintainer, p.Section, p.Origin, p.License, p.Summary} {
			if len(s) > maxFieldLen || len(s) > len(b) {
				t.Fatalf("field of %d bytes from a %d-byte header", len(s), len(b))
			}
		}
		if p.Version == "" || len(p.Version) > maxFieldLen {
			t.Fatalf("version %q", p.Version)
		}
	})
}

// Go's fuzzer minimizes every input that reaches new code before it goes on: it runs the
// input again with bytes, then every run of bytes, cut out, a number of runs quadratic in
// the input's size, for up to -fuzzminimizetime (a minute by default), during which it
// reports no progress ("execs: N (0/sec)"). For database files of a few KiB and more that
// is the whole minute each time, so that short fuzz runs spent most of their time there
// (starting from the real databases of a few hundred KiB, they did nothing else). The
// reader targets therefore start from small databases, skip inputs larger than
// maxFuzzInput, and TestMain bounds minimization to fuzzMinimizeTime unless
// -fuzzminimizetime is given.
const (
	maxFuzzInput     = 64 << 10
	fuzzMinimizeTime = "250ms"
)

func TestMain(m *testing.M) {
	flag.Parse()
	fuzz, minimize := flag.Lookup("test.fuzz"), flag.Lookup("test.fuzzminimizetime")
	if fuzz != nil && fuzz.Value.String() != "" && minimize != nil {
		given := false
		flag.Visit(func(f *flag.Flag) { given = given || f == minimize })
		if !given {
			minimize.Value.Set(fuzzMinimizeTime)
		}
	}
	m.Run()
}

// checkRead is the invariant shared by the database readers: whatever the input, they stop,
// at a cost linear in its size (no part of it read or handed out over and over), and every
// blob they return is no larger than the input.
func checkRead(t *testing.T, fm format, db, wal []byte) {
	size := len(db) + len(wal)
	res := readAll(fm, db, wal)
	if res.skipped < 0 || res.blobs+res.skipped > size {
		t.Fatalf("%d blobs and %d skipped from %d bytes (error %v)", res.blobs, res.skipped, size, res.err)
	}
	if res.err != nil && !errors.Is(res.err, ErrMalformed) {
		t.Fatalf("error %v is not ErrMalformed", res.err)
	}
	checkLinear(t, res, size)
}

func FuzzReadSQLite(f *testing.F) {
	blobs := testBlobs()
	f.Add(sqliteFile(false, blobs...), []byte(nil))
	f.Add(sqliteFile(false, blobs[0]), []byte(nil))
	f.Add(sqliteFile(true, blobs[:2]...), sqliteWAL(sqliteFile(true, blobs[2:]...)))
	f.Add(sqliteSharedOverflow(20, 3, 20), []byte(nil))
	f.Add(readFixture(f, "testdata/truncated/var/lib/rpm/rpmdb.sqlite"), []byte(nil))
	f.Fuzz(func(t *testing.T, db, wal []byte) {
		if len(db)+len(wal) > maxFuzzInput {
			return
		}
		checkRead(t, formatSQLite, db, wal)
	})
}

func FuzzReadBDB(f *testing.F) {
	blobs := testBlobs()
	f.Add(bdbFile([2][]byte{{1, 0, 0, 0}, buildHeader(baseEntries...)}, [2][]byte{{0, 0, 0, 0}, {1, 0, 0, 0}}))
	f.Add(bdbHashFile([]uint32{0, 1, 2, 3}, []bdbValue{{data: []byte{4, 0, 0, 0}}, {data: blobs[0]},
		{data: blobs[3], offPage: true}, {data: blobs[4], offPage: true}}))
	db, _ := bdbSharedOverflow(2, 10, 10, 9*(testPageSize-bdbPageHeader))
	f.Add(db)
	f.Add(readFixture(f, roots+"/centos7/var/lib/rpm/Packages"))
	f.Add(readFixture(f, "testdata/garbage-bdb/var/lib/rpm/Packages"))
	f.Fuzz(func(t *testing.T, db []byte) {
		if len(db) > maxFuzzInput {
			return
		}
		checkRead(t, formatBDB, db, nil)
	})
}

func FuzzReadNDB(f *testing.F) {
	blobs := testBlobs()
	f.Add(ndbFile(blobs...))
	f.Add(ndbOverlap(ndbFile(blobs[1], blobs[2])))
	f.Add(readFixture(f, roots+"/opensuse15/usr/lib/sysimage/rpm/Packages.db"))
	f.Add(readFixture(f, "testdata/garbage-ndb/usr/lib/sysimage/rpm/Packages.db"))
	f.Fuzz(func(t *testing.T, db []byte) {
		if len(db) > maxFuzzInput {
			return
		}
		checkRead(t, formatNDB, db, nil)
	})
}
