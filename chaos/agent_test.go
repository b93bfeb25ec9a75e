package chaos

import (
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/testutil/fixture"
)

// agent is one onus-agent run process reporting a copy of a fixture host root.
type agent struct {
	*proc
	id         string
	root       string
	metricsURL string
}

// newAgent copies the debian12 fixture root, gives it its own machine-id and hostname, and
// prepares an agent reporting it to collectorURL.
func newAgent(t *testing.T, bin, name, id, collectorURL string) *agent {
	t.Helper()
	root := copyRoot(t, fixture.Root(t, "debian12"))
	for file, content := range map[string]string{"etc/machine-id": id + "\n", "etc/hostname": name + "\n"} {
		if err := os.WriteFile(filepath.Join(root, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	maddr := freeAddr(t)
	p := newProc(t, name, filepath.Join(bin, "onus-agent"), "run", "--collector-url", collectorURL, "--insecure-http",
		"--enroll-secret-file", writeSecret(t, dir, "enroll-secret", enrollSecret), "--state-dir", filepath.Join(dir, "state"),
		"--host-root", root, "--metrics-address", maddr, "--log-level", "warn")
	return &agent{proc: p, id: id, root: root, metricsURL: "http://" + maddr + "/metrics"}
}

// metric reads one of the agent's metrics (summed over the labels given).
func (a *agent) metric(name string, labels ...string) (float64, bool) {
	ans := do("GET", a.metricsURL, "", nil)
	if ans.err != nil || ans.status != http.StatusOK {
		return 0, false
	}
	return metric(ans.body, name, labels...)
}

// copyRoot copies a fixture root, keeping modification times and symbolic links.
func copyRoot(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, b, info.Mode().Perm()); err != nil {
				return err
			}
			return os.Chtimes(out, info.ModTime(), info.ModTime())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// dpkgInstall adds a package to the root's dpkg database the way dpkg does: the file list
// first (its modification time is the install time dpkg records), then status-new written,
// synced and renamed over status.
func dpkgInstall(t *testing.T, root, name, version string, at time.Time) {
	t.Helper()
	info := filepath.Join(root, "var/lib/dpkg/info", name+".list")
	if err := os.WriteFile(info, []byte("/.\n/usr/bin/"+name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(info, at, at); err != nil {
		t.Fatal(err)
	}
	stanza := fmt.Sprintf("Package: %s\nStatus: install ok installed\nPriority: optional\nSection: utils\nInstalled-Size: 120\n"+
		"Maintainer: Nobody <nobody@example.com>\nArchitecture: amd64\nVersion: %s\nDescription: %s, installed by hand\n", name, version, name)
	rewriteStatus(t, root, func(s string) string { return strings.TrimRight(s, "\n") + "\n\n" + stanza })
}

// dpkgRemove removes a package's stanza the same way.
func dpkgRemove(t *testing.T, root, name string) {
	t.Helper()
	rewriteStatus(t, root, func(s string) string {
		var kept []string
		for _, st := range strings.Split(strings.TrimRight(s, "\n"), "\n\n") {
			if !strings.HasPrefix(st, "Package: "+name+"\n") {
				kept = append(kept, st)
			}
		}
		return strings.Join(kept, "\n\n") + "\n"
	})
	os.Remove(filepath.Join(root, "var/lib/dpkg/info", name+".list"))
}

func rewriteStatus(t *testing.T, root string, edit func(string) string) {
	t.Helper()
	dir := filepath.Join(root, "var/lib/dpkg")
	old, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "status-new"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(edit(string(old))); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Rename(filepath.Join(dir, "status-new"), filepath.Join(dir, "status")); err != nil {
		t.Fatal(err)
	}
}
