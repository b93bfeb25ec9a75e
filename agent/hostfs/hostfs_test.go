package hostfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveStaysInRoot(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "usr/lib"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(os.WriteFile(filepath.Join(root, "usr/lib/os-release"), []byte("ID=inside\n"), 0o644))
	must(os.WriteFile(filepath.Join(outside, "secret"), []byte("outside\n"), 0o644))
	must(os.Symlink("../usr/lib/os-release", filepath.Join(root, "etc/os-release"))) // relative
	must(os.Symlink("/usr/lib/os-release", filepath.Join(root, "etc/abs")))          // absolute: inside the root
	must(os.Symlink("../../../../../../../"+outside+"/secret", filepath.Join(root, "etc/escape")))
	must(os.Symlink(outside+"/secret", filepath.Join(root, "etc/abs-escape")))
	must(os.Symlink("loop", filepath.Join(root, "etc/loop")))
	must(os.Symlink("usr/lib", filepath.Join(root, "lib")))
	r := Root(root)
	tests := []struct {
		path, want string
		err        bool
	}{
		{path: "/etc/os-release", want: "ID=inside\n"},
		{path: "/etc/abs", want: "ID=inside\n"},
		{path: "/lib/os-release", want: "ID=inside\n"},
		{path: "/../../etc/os-release", want: "ID=inside\n"},
		{path: "/etc/escape", err: true},
		{path: "/etc/abs-escape", err: true},
		{path: "/etc/loop", err: true},
		{path: "/etc/missing", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			b, err := r.ReadFile(tt.path, 0)
			if tt.err {
				if err == nil {
					t.Fatalf("read %q outside the root or through a loop", b)
				}
				if strings.Contains(err.Error(), root) {
					t.Errorf("error names the path under the root: %v", err)
				}
				return
			}
			if err != nil || string(b) != tt.want {
				t.Fatalf("got %q, %v; want %q", b, err, tt.want)
			}
		})
	}
	if _, err := r.Stat("/etc/missing"); !NotPresent(err) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := r.Stat("/etc/os-release/x"); !NotPresent(err) {
		t.Errorf("path through a file: %v", err)
	}
}

func TestReadFileLimit(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "big"), make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Root(root).ReadFile("/big", 999); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	b, err := Root(root).ReadFile("/big", 1000)
	if err != nil || len(b) != 1000 {
		t.Fatalf("%d bytes, %v", len(b), err)
	}
	// A file that grows past its stat size (proc files report 0) is still capped.
	if _, err := ReadAll(strings.NewReader(strings.Repeat("x", 50)), "r", 10); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("reader: %v", err)
	}
	var pe *fs.PathError
	if _, err := Root(root).ReadFile("/nope", 0); !errors.As(err, &pe) || pe.Path != "/nope" {
		t.Fatalf("error %v, want a PathError naming /nope", err)
	}
}
