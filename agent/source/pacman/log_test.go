package pacman

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/internal/model"
)

// logRoot was made by the real makepkg and pacman (agent/testdata/scripts/pacman-log.sh).
const logRoot = "testdata/log"

const logCmd = "pacman --config /tmp/onus-pacman-log/pacman.conf --root /tmp/onus-pacman-log/root --cachedir /tmp/onus-pacman-log/cache --gpgdir /tmp/onus-pacman-log/gnupg --hookdir /tmp/onus-pacman-log/hooks --noconfirm --color never "

func collectLog(t *testing.T, root string) (map[string]model.Package, int) {
	t.Helper()
	res, err := New(hostfs.Root(root)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]model.Package{}
	for _, p := range res.Software {
		out[p.Name] = p
	}
	return out, res.Skipped
}

func TestLogInfo(t *testing.T) {
	got, skipped := collectLog(t, logRoot)
	if skipped != 0 {
		t.Errorf("skipped %d", skipped)
	}
	want := map[string]model.InstallInfo{
		// Marked explicit after its install as a dependency: the desc says so.
		"libhello": {Requested: "explicit", InstallCommand: logCmd + "-U --asdeps libhello-1.0-1-any.pkg.tar.zst", Evidence: "pacman-log"},
		// Upgraded: the upgrade installed the version now installed.
		"hello": {Requested: "explicit", InstallCommand: logCmd + "-U hello-1.1-1-any.pkg.tar.zst", Evidence: "pacman-log"},
		// Installed, removed, installed again.
		"scratch": {Requested: "dependency", InstallCommand: logCmd + "-U --asdeps scratch-0.1-1-any.pkg.tar.zst", Evidence: "pacman-log"},
	}
	for name, w := range want {
		if p := got[name]; !p.InstallInfo.Equal(&w) {
			t.Errorf("%s: %+v, want %+v", name, p.InstallInfo, w)
		}
	}
}

func TestLogHostile(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(logRoot)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "var/log/pacman.log")
	old, _ := os.ReadFile(p)
	var b bytes.Buffer
	b.WriteString("[x] [ALPM] installed hello (\x1b\xff)\n[x] [PACMAN] Running 'pacman -S \x1b[31mhello\xfe'\n")
	for b.Len() < 2*maxLog {
		b.WriteString("[2026-01-01T00:00:00+0000] [ALPM] installed other (" + strings.Repeat("1", 100) + "-1)\n")
	}
	b.Write(old)
	b.WriteString("[2026-01-01T00:00:00+0000] [PACMAN] Running 'pacman -U \x1b[31mhello\xfe'\n[y] [ALPM] reinstalled hello (1.1-1)\n[y] [ALPM] installed broken\n")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, skipped := collectLog(t, root)
	if skipped != 1 {
		t.Errorf("skipped %d, want 1", skipped)
	}
	if c := got["hello"].InstallCommand; c != `pacman -U \x1b[31mhello`+"\uFFFD" {
		t.Errorf("hello command %q", c)
	}
	if len(got) != 3 {
		t.Errorf("%d packages", len(got))
	}
}

func FuzzParseLog(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join(logRoot, "var/log/pacman.log")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("[t] [ALPM] upgraded a (1-1 -> 2-1)\n[t] [ALPM] removed b (x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		skipped := parseLog(data, func(e logEvent) {
			if !validName(e.name) || !validVersion(e.version) {
				t.Fatalf("event %+v", e)
			}
			n++
		})
		if lines := bytes.Count(data, []byte("\n")) + 1; n+skipped > lines {
			t.Fatalf("%d events, %d skipped of %d lines", n, skipped, lines)
		}
	})
}
