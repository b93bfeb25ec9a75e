package rpm

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
)

// TestFiles reads the file lists of the fixture databases in each of the three formats.
func TestFiles(t *testing.T) {
	for _, fx := range []struct{ root, want string }{
		{"rocky9", "/usr/share/bash/bash.data"}, {"centos7", "/usr/share/bash/bash.data"}, {"opensuse15", "/usr/share/bash/bash.data"},
	} {
		t.Run(fx.root, func(t *testing.T) {
			var paths []string
			skipped, err := Files(context.Background(), hostfs.Root(filepath.Join(roots, fx.root)), func(p []byte) {
				paths = append(paths, string(p))
			})
			if err != nil || skipped != 0 {
				t.Fatalf("skipped %d, %v", skipped, err)
			}
			if !slices.Contains(paths, fx.want) {
				t.Errorf("%d paths, none is %s: %q", len(paths), fx.want, paths[:min(len(paths), 10)])
			}
			for _, p := range paths {
				if len(p) == 0 || p[0] != '/' {
					t.Fatalf("path %q is not absolute", p)
				}
			}
		})
	}
	if _, err := Files(context.Background(), hostfs.Root(t.TempDir()), func([]byte) {}); !errors.Is(err, source.ErrNotPresent) {
		t.Errorf("no database: %v", err)
	}
}

// fileHeader encodes a header with a file list: dirs, basenames and their directory indexes.
func fileHeader(dirs, bases []string, idx []uint32) []byte {
	var index, data []byte
	add := func(tag, typ, cnt uint32, val []byte) {
		for typ == typeInt32 && len(data)%4 != 0 {
			data = append(data, 0)
		}
		for _, x := range []uint32{tag, typ, uint32(len(data)), cnt} {
			index = binary.BigEndian.AppendUint32(index, x)
		}
		data = append(data, val...)
	}
	strs := func(ss []string) []byte {
		var b []byte
		for _, s := range ss {
			b = append(append(b, s...), 0)
		}
		return b
	}
	add(tagName, typeString, 1, []byte("pkg\x00"))
	add(tagBasenames, typeStringArray, uint32(len(bases)), strs(bases))
	add(tagDirNames, typeStringArray, uint32(len(dirs)), strs(dirs))
	var ib []byte
	for _, i := range idx {
		ib = binary.BigEndian.AppendUint32(ib, i)
	}
	add(tagDirIndexes, typeInt32, uint32(len(idx)), ib)
	b := binary.BigEndian.AppendUint32(nil, uint32(len(index)/entrySize))
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(append(b, index...), data...)
}

func TestHeaderFiles(t *testing.T) {
	tests := []struct {
		name  string
		blob  []byte
		want  []string
		isErr bool
	}{
		{"list", fileHeader([]string{"/usr/bin/", "/etc/"}, []string{"a", "b", "c"}, []uint32{0, 1, 0}),
			[]string{"/usr/bin/a", "/etc/b", "/usr/bin/c"}, false},
		{"no files", buildHeader(baseEntries...), nil, false},
		{"index out of range", fileHeader([]string{"/usr/bin/"}, []string{"a"}, []uint32{1}), nil, true},
		{"count mismatch", fileHeader([]string{"/usr/bin/"}, []string{"a", "b"}, []uint32{0}), nil, true},
		{"short", []byte{0, 0, 0, 1}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			var buf []byte
			err := HeaderFiles(tt.blob, &buf, func(p []byte) { got = append(got, string(p)) })
			if (err != nil) != tt.isErr {
				t.Fatalf("err = %v", err)
			}
			if !tt.isErr && !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzHeaderFiles(f *testing.F) {
	f.Add(fileHeader([]string{"/usr/bin/", "/etc/"}, []string{"a", "b", "c"}, []uint32{0, 1, 0}))
	for _, b := range fixtureBlobs(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var buf []byte
		n := 0
		_ = HeaderFiles(b, &buf, func(p []byte) {
			if n++; n > len(b) {
				t.Fatalf("%d paths from %d bytes", n, len(b))
			}
		})
	})
}
