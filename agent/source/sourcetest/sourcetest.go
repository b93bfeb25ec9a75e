// Package sourcetest holds what the tests of the inventory sources share.
package sourcetest

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/onus-project/onus/agent/source"
)

// CollectStamped runs src and checks that each package's install time is the modification
// time of its location under root, as stat (os.Stat, or os.Lstat for a location that may be
// a link) gives it; then it zeroes the install times, which a checkout does not keep, so
// that the result can be compared with a golden file.
func CollectStamped(t testing.TB, src source.Source, root string, stat func(string) (fs.FileInfo, error)) source.Result {
	t.Helper()
	res, err := src.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range res.Software {
		fi, err := stat(filepath.Join(root, p.Location))
		if err != nil || !p.InstallTime.Equal(fi.ModTime()) {
			t.Errorf("%s: install time %v, file %v", p.Location, p.InstallTime, err)
		}
		res.Software[i].InstallTime = time.Time{}
	}
	return res
}

// MemTempDir returns a temporary directory in memory where there is one (/dev/shm), else
// t.TempDir(): the hostile tests that make tens of thousands of directories take a second
// there, and minutes on a busy virtual disk. It is removed when the test ends.
func MemTempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("/dev/shm", "onus-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
