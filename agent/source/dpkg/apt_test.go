package dpkg

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/testutil/golden"
)

// aptRoot is a copy of a real Debian 12 host's dpkg status, extended_states and apt history
// (agent/testdata/scripts/apt.sh).
const aptRoot = "testdata/apt"

func collectByKey(t *testing.T, root string) (map[string]model.Package, int) {
	t.Helper()
	res, err := New(hostfs.Root(root)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]model.Package{}
	for _, p := range res.Software {
		out[p.Name+":"+p.Arch] = p
	}
	return out, res.Skipped
}

func TestAptRecords(t *testing.T) {
	res, err := New(aptRoot).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 0 {
		t.Errorf("skipped %d records of real apt files", res.Skipped)
	}
	golden.AssertJSON(t, filepath.Join("testdata", "apt.golden.json"), res.Software)

	byKey, _ := collectByKey(t, aptRoot)
	tests := []struct {
		key                          string
		requested, by, cmd, evidence string
	}{
		// Installed under sudo: Requested-By names the user; history.log itself.
		{"dnf:all", "explicit", "cloudsdk", "apt-get install -y -qq dnf createrepo-c", "apt-history"},
		{"libdnf2-common:all", "dependency", "cloudsdk", "apt-get install -y -qq dnf createrepo-c", "apt-history"},
		// Installed by root itself, then upgraded: the upgrade is the newest record of the
		// installed version, in the rotated, gzipped log.
		{"git:amd64", "explicit", "root", "apt-get install -y build-essential ca-certificates curl gcc git iproute2 libffi-dev libncurses5-dev libncursesw5-dev libreadline-dev libsqlite3-dev libssl-dev libbz2-dev llvm make pkg-config python3-openssl tk-dev wget xz-utils zlib1g-dev libxml2-dev libxmlsec1-dev libpq-dev liblzma-dev unzip zip software-properties-common ca-certificates gnupg python3-venv python3-dev python3-pip libgl1-mesa-glx libyaml-dev libxslt1-dev libjpeg-dev libpng-dev procps lsof jq yq vim net-tools coreutils tmux", "apt-history"},
		// "apt-get install" of a package already installed upgrades it.
		{"tzdata:all", "explicit", "root", "apt-get install -y tzdata", "apt-history"},
		// In no history stanza read: apt's mark alone.
		{"base-files:amd64", "dependency", "", "", "apt-extended-states"},
	}
	for _, tt := range tests {
		p, ok := byKey[tt.key]
		if !ok {
			t.Errorf("%s not reported", tt.key)
			continue
		}
		if p.Requested != tt.requested || p.InstalledBy != tt.by || p.InstallCommand != tt.cmd || p.Evidence != tt.evidence {
			t.Errorf("%s: requested %q by %q command %q evidence %q, want %q %q %q %q", tt.key,
				p.Requested, p.InstalledBy, p.InstallCommand, p.Evidence, tt.requested, tt.by, tt.cmd, tt.evidence)
		}
	}
}

// copyRoot copies the apt test root into a temporary directory the test may change.
func copyRoot(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(aptRoot, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(aptRoot, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAptHostile: broken apt records cost their own fields, are counted, and never fail the
// source nor hide a package.
func TestAptHostile(t *testing.T) {
	clean, _ := collectByKey(t, aptRoot)
	logDir := filepath.Join("var", "log", "apt")
	tests := []struct {
		name        string
		change      func(t *testing.T, root string)
		wantSkipped bool
		check       func(t *testing.T, got map[string]model.Package)
	}{
		{"truncated gzip", func(t *testing.T, root string) {
			p := filepath.Join(root, logDir, "history.log.1.gz")
			b, _ := os.ReadFile(p)
			writeFile(t, p, b[:len(b)/2])
		}, true, nil},
		{"not gzip", func(t *testing.T, root string) {
			writeFile(t, filepath.Join(root, logDir, "history.log.2.gz"), []byte("plain text\n"))
		}, true, nil},
		{"control characters and invalid utf-8", func(t *testing.T, root string) {
			f, _ := os.OpenFile(filepath.Join(root, logDir, "history.log"), os.O_APPEND|os.O_WRONLY, 0)
			defer f.Close()
			f.WriteString("\nStart-Date: x\nCommandline: apt-get \x1b[31minstall \xff dnf\nRequested-By: \x07eve\xfe (1001)\nReinstall: dnf:amd64 (4.14.0-3+deb12u1)\nbroken line\nEnd-Date: x\n")
		}, true, func(t *testing.T, got map[string]model.Package) {
			p := got["dnf:all"]
			if p.InstallCommand != `apt-get \x1b[31minstall `+"\uFFFD"+` dnf` || p.InstalledBy != `\x07eve`+"\uFFFD" {
				t.Errorf("dnf: by %q command %q", p.InstalledBy, p.InstallCommand)
			}
		}},
		{"100 MB of history", func(t *testing.T, root string) {
			p := filepath.Join(root, logDir, "history.log")
			old, _ := os.ReadFile(p)
			f, _ := os.Create(p)
			line := []byte("Start-Date: 2026-01-01  00:00:00\nCommandline: apt-get install -y " + strings.Repeat("x", 1000) + "\nEnd-Date: 2026-01-01  00:00:01\n\n")
			for n := 0; n < 100<<20; n += len(line) {
				f.Write(line)
			}
			f.Write(old)
			f.Close()
		}, false, func(t *testing.T, got map[string]model.Package) {
			// The newest stanzas are the tail that is read; the rotated log is past the budget.
			if p := got["dnf:all"]; p.InstalledBy != "cloudsdk" {
				t.Errorf("dnf installed by %q", p.InstalledBy)
			}
			if p := got["git:amd64"]; p.Evidence != "apt-extended-states" {
				t.Errorf("git evidence %q, want apt-extended-states past the history budget", p.Evidence)
			}
		}},
		{"no extended_states", func(t *testing.T, root string) {
			os.Remove(filepath.Join(root, "var/lib/apt/extended_states"))
		}, false, func(t *testing.T, got map[string]model.Package) {
			// The history's "automatic" says it instead.
			if p := got["libdnf2-common:all"]; p.Requested != "dependency" {
				t.Errorf("libdnf2-common requested %q", p.Requested)
			}
			if p := got["base-files:amd64"]; p.Requested != "" || p.Evidence != "" {
				t.Errorf("base-files without apt records: %+v", p.InstallInfo)
			}
		}},
		{"extended_states a directory", func(t *testing.T, root string) {
			p := filepath.Join(root, "var/lib/apt/extended_states")
			os.Remove(p)
			os.Mkdir(p, 0o755)
		}, true, nil},
		{"malformed extended_states", func(t *testing.T, root string) {
			writeFile(t, filepath.Join(root, "var/lib/apt/extended_states"), []byte("Package: dnf\nAuto-Installed: yes\n\nPackage: \x00\n\n\xff\xfe\n"))
		}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := copyRoot(t)
			tt.change(t, root)
			got, skipped := collectByKey(t, root)
			if len(got) != len(clean) {
				t.Errorf("%d packages, want %d", len(got), len(clean))
			}
			if (skipped > 0) != tt.wantSkipped {
				t.Errorf("skipped %d", skipped)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func TestParseHistoryEntries(t *testing.T) {
	in := "Start-Date: 2026-01-01  10:00:00\nCommandline: apt install a b\nRequested-By: alice (1000)\n" +
		"Install: a:amd64 (1.0), b:all (2:2.0-1, automatic)\nUpgrade: c:i386 (1.0, 1.1)\nDowngrade: d:amd64 (2, 1)\n" +
		"Remove: e:amd64 (3)\nPurge: f:amd64 (4)\nEnd-Date: 2026-01-01  10:00:01\n\n" +
		"Start-Date: x\nInstall: g:amd64 (1), BAD NAME:amd64 (1), h:amd64 ()\nnot a field\n"
	var got []string
	skipped := parseHistory([]byte(in), func(e histEntry) {
		s := string(e.name) + ":" + string(e.arch) + "=" + string(e.version)
		if e.auto {
			s += ",auto"
		}
		if e.remove {
			s += ",remove"
		}
		s += "," + string(e.stanza.user)
		got = append(got, s)
	})
	want := []string{"a:amd64=1.0,alice (1000)", "b:all=2:2.0-1,auto,alice (1000)", "c:i386=1.1,alice (1000)",
		"d:amd64=1,alice (1000)", "e:amd64=3,remove,alice (1000)", "f:amd64=4,remove,alice (1000)", "g:amd64=1,"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if skipped != 1 {
		t.Errorf("skipped %d stanzas, want 1", skipped)
	}
}

func TestInstalledBy(t *testing.T) {
	for in, want := range map[string]string{
		"": "root", "alice (1000)": "alice", "(1000)": "uid:1000", "bob": "bob", "(x)": "(x)",
	} {
		if got := installedBy([]byte(in)); got != want {
			t.Errorf("installedBy(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTailOf(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 100_000)
	b, cut, err := tailOf(bytes.NewReader(data), 12345)
	if err != nil || !cut || !bytes.Equal(b, data[len(data)-12345:]) {
		t.Errorf("tail of %d bytes, cut %v, err %v", len(b), cut, err)
	}
	b, cut, _ = tailOf(bytes.NewReader(data[:100]), 12345)
	if cut || len(b) != 100 {
		t.Errorf("short input: %d bytes, cut %v", len(b), cut)
	}
	// A gzip bomb is read no further than maxInflate.
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zero := make([]byte, 1<<20)
	for range 2 * maxInflate / len(zero) {
		zw.Write(zero)
	}
	zw.Close()
	root := copyRoot(t)
	writeFile(t, filepath.Join(root, "var/log/apt/history.log.3.gz"), z.Bytes())
	if b, err := readTail(hostfs.Root(root), "/var/log/apt/history.log.3.gz", 1<<20); err != nil || len(b) != 0 {
		t.Errorf("bomb: %d bytes, err %v", len(b), err)
	}
}

func FuzzParseHistory(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join(aptRoot, "var/log/apt/history.log")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("Start-Date: x\nInstall: a:amd64 (1, automatic), b (2\nUpgrade: c:all (1, 2)\n\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		stanzas := bytes.Count(data, []byte("\n\n")) + 1
		skipped := parseHistory(data, func(e histEntry) {
			if len(e.name) == 0 || len(e.version) == 0 || !validName(e.name) || e.stanza == nil {
				t.Fatalf("entry %+v", e)
			}
		})
		if skipped > stanzas {
			t.Fatalf("skipped %d of %d stanzas", skipped, stanzas)
		}
	})
}

func FuzzParseExtendedStates(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join(aptRoot, "var/lib/apt/extended_states")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("Package: a\nArchitecture: amd64\nAuto-Installed: 1\n\nPackage: b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		marks := 0
		skipped := parseExtendedStates(data, func(name, arch []byte, auto bool) {
			if !validName(name) || len(name) == 0 {
				t.Fatalf("mark of %q", name)
			}
			marks++
		})
		if n := bytes.Count(data, []byte("\n")) + 1; skipped+marks > n {
			t.Fatalf("%d marks, %d skipped from %d lines", marks, skipped, n)
		}
	})
}
