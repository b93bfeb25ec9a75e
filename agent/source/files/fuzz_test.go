package files

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seeds adds the fixture root's files whose names end in one of suffixes to f.
func seeds(f *testing.F, suffixes ...string) {
	filepath.WalkDir("testdata/root", func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		for _, s := range suffixes {
			if strings.HasSuffix(p, s) {
				if b, err := os.ReadFile(p); err == nil && len(b) < 1<<20 {
					f.Add(b)
				}
			}
		}
		return nil
	})
}

// checkPath: what a file list parser hands on is one path of the input, without a newline.
func checkPath(t *testing.T, in, p []byte) {
	if bytes.IndexByte(p, '\n') >= 0 || len(p) > len(in) {
		t.Fatalf("path %q from %d bytes", p, len(in))
	}
}

func FuzzListPaths(f *testing.F) {
	seeds(f, ".list")
	f.Add([]byte("/.\n/usr\n/usr/bin/sh\n\n/usr/bin/with space\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ListPaths(b, func(p []byte) { checkPath(t, b, p) })
	})
}

func FuzzAPKPaths(f *testing.F) {
	seeds(f, "installed")
	f.Add([]byte("P:busybox\nF:bin\nR:busybox\nR:sh\n\nP:x\nR:orphan\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		APKPaths(b, func(p []byte) {
			if bytes.IndexByte(p, '\n') >= 0 {
				t.Fatalf("path %q", p)
			}
			n++
		})
		if n > bytes.Count(b, []byte("R:")) {
			t.Fatalf("%d paths from %d R: lines", n, bytes.Count(b, []byte("R:")))
		}
	})
}

func FuzzPacmanPaths(f *testing.F) {
	seeds(f, "/files")
	f.Add([]byte("%FILES%\nusr/\nusr/bin/\nusr/bin/bash\n\n%BACKUP%\netc/bash.bashrc\tabc\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		PacmanPaths(b, func(p []byte) { checkPath(t, b, p) })
	})
}

func FuzzExecPaths(f *testing.F) {
	seeds(f, ".service", ".conf")
	f.Add([]byte("[Service]\nExecStart=-/usr/bin/env \\\n  FOO=1 /bin/true\nExecStartPre=@\"/opt/a b/x\" y\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range ExecPaths(b) {
			if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "%\\\n") || filepath.Clean(p) != p {
				t.Fatalf("exec path %q", p)
			}
		}
	})
}

func FuzzParseNotes(f *testing.F) {
	desc := []byte(`{"type":"deb","name":"acme","version":"1.2"}`)
	note := make([]byte, 12, 64)
	binary.LittleEndian.PutUint32(note, 4)
	binary.LittleEndian.PutUint32(note[4:], uint32(len(desc)))
	binary.LittleEndian.PutUint32(note[8:], noteType)
	note = append(append(note, "FDO\x00"...), desc...)
	f.Add(note, true)
	f.Add(note[:20], false)
	f.Fuzz(func(t *testing.T, b []byte, little bool) {
		var order binary.ByteOrder = binary.BigEndian
		if little {
			order = binary.LittleEndian
		}
		n, ok := ParseNotes(b, order)
		if !ok && n != (PackageNote{}) {
			t.Fatalf("no note, yet %+v", n)
		}
		if len(n.Name)+len(n.Version)+len(n.Type)+len(n.Architecture)+len(n.OSCPE) > len(b)*6 {
			t.Fatalf("note %+v from %d bytes", n, len(b))
		}
	})
}
