package source

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
)

// TestExpandDirs: glob elements match directories only, never links, dot names or files;
// literal elements pass as they are; the cap stops the reading.
func TestExpandDirs(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"opt/b1/lib", "opt/b2/lib", "opt/.b3/lib", "opt/c1/lib"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "opt/b4"), nil, 0o644)
	os.Symlink("b1", filepath.Join(root, "opt/b5"))
	r := hostfs.Root(root)
	if got, want := ExpandDirs(r, "", []string{"opt", "b*", "lib"}, 10), []string{"/opt/b1/lib", "/opt/b2/lib"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := ExpandDirs(r, "", []string{"opt", "missing"}, 10), []string{"/opt/missing"}; !slices.Equal(got, want) {
		t.Errorf("literal: got %q, want %q", got, want)
	}
	if got := ExpandDirs(r, "", []string{"opt", "*"}, 1); len(got) != 1 {
		t.Errorf("capped at 1: %q", got)
	}
}
