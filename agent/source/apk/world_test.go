package apk

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/internal/testutil/fixture"
)

func TestParseWorld(t *testing.T) {
	in := "nginx\ncurl>=8.5 py3-foo@edge  busybox=1.36.1-r15\n!bar so:libc.musl-x86_64.so.1 cmd:sh\nbad$name\r\n\n"
	names, skipped := parseWorld([]byte(in))
	got := slices.Sorted(maps.Keys(names))
	if want := []string{"busybox", "curl", "nginx", "py3-foo"}; !slices.Equal(got, want) {
		t.Errorf("names %q, want %q", got, want)
	}
	if skipped != 1 {
		t.Errorf("skipped %d, want 1", skipped)
	}
}

func TestCollectRequested(t *testing.T) {
	res, err := New(hostfs.Root(fixture.Root(t, "alpine3"))).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"nginx": "explicit", "openssh": "explicit", "pcre2": "dependency", "musl": "dependency"}
	for _, p := range res.Software {
		if w, ok := want[p.Name]; ok && (p.Requested != w || p.Evidence != "apk-world") {
			t.Errorf("%s: requested %q evidence %q, want %q", p.Name, p.Requested, p.Evidence, w)
		}
	}
}

func TestCollectWithoutWorld(t *testing.T) {
	root := t.TempDir()
	db, err := os.ReadFile(filepath.Join(fixture.Root(t, "alpine3"), DBPath))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, dbDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, DBPath), db, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, world := range []string{"", "dir"} {
		if world == "dir" {
			if err := os.MkdirAll(filepath.Join(root, worldPath), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		res, err := New(hostfs.Root(root)).Collect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if world == "dir" && res.Skipped != 1 {
			t.Errorf("unreadable world: skipped %d, want 1", res.Skipped)
		}
		for _, p := range res.Software {
			if p.Requested != "" || p.Evidence != "" {
				t.Fatalf("world %q: %s marked %q", world, p.Name, p.Requested)
			}
		}
	}
}

func FuzzParseWorld(f *testing.F) {
	f.Add([]byte("nginx\ncurl>=8\n!x\nso:a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		names, skipped := parseWorld(data)
		if n := len(bytes.Fields(data)); len(names)+skipped > n {
			t.Fatalf("%d names, %d skipped of %d entries", len(names), skipped, n)
		}
		for n := range names {
			if n == "" || !validWorldName([]byte(n)) {
				t.Fatalf("name %q", n)
			}
		}
	})
}
