package systemd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/testutil/golden"
)

// fixtures are the shared fixture roots that hold systemd unit trees.
var fixtures = []string{"debian12", "rocky9"}

func fixtureRoot(name string) hostfs.Root {
	return hostfs.Root(filepath.Join("..", "..", "testdata", "roots", name))
}

func TestCollectFixtures(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			res, err := New(Options{Root: fixtureRoot(name)}).Collect(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if res.Skipped != 0 {
				t.Errorf("Skipped = %d, want 0", res.Skipped)
			}
			for _, s := range res.Services {
				if s.ActiveState != "" || s.SubState != "" {
					t.Errorf("%s: states %q/%q without a service manager", s.Name, s.ActiveState, s.SubState)
				}
			}
			golden.AssertJSON(t, filepath.Join("testdata", name+".golden.json"), res.Services)
		})
	}
}

// file is one entry of a test root: a regular file with content, or a symlink when link is set.
type file struct {
	path, content, link string
}

func writeTree(t testing.TB, files []file) hostfs.Root {
	t.Helper()
	root := t.TempDir()
	for _, f := range files {
		p := filepath.Join(root, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if f.link != "" {
			err = os.Symlink(f.link, p)
		} else {
			err = os.WriteFile(p, []byte(f.content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return hostfs.Root(root)
}

const (
	wanted   = "[Unit]\nDescription=Wanted\n[Install]\nWantedBy=multi-user.target\n"
	noInst   = "[Unit]\nDescription=No install\n"
	alsoOnly = "[Unit]\nDescription=Also only\n[Install]\nAlso=other.socket\n"
	lib      = "/usr/lib/systemd/system/"
	etc      = "/etc/systemd/system/"
)

func TestUnitFileStates(t *testing.T) {
	tests := []struct {
		name    string
		files   []file
		want    []model.Service
		skipped int
	}{
		{
			name:  "disabled",
			files: []file{{path: lib + "a.service", content: wanted}},
			want:  []model.Service{{Name: "a.service", Description: "Wanted", UnitFileState: "disabled", Path: lib + "a.service"}},
		},
		{
			name: "enabled",
			files: []file{
				{path: lib + "a.service", content: wanted},
				{path: etc + "multi-user.target.wants/a.service", link: lib + "a.service"},
			},
			want: []model.Service{{Name: "a.service", Description: "Wanted", UnitFileState: "enabled", Path: lib + "a.service"}},
		},
		{
			name: "enabled-runtime",
			files: []file{
				{path: lib + "a.service", content: wanted},
				{path: "/run/systemd/system/multi-user.target.wants/a.service", link: lib + "a.service"},
			},
			want: []model.Service{{Name: "a.service", Description: "Wanted", UnitFileState: "enabled-runtime", Path: lib + "a.service"}},
		},
		{
			name:  "static",
			files: []file{{path: lib + "a.timer", content: noInst}},
			want:  []model.Service{{Name: "a.timer", Description: "No install", UnitFileState: "static", Path: lib + "a.timer"}},
		},
		{
			name:  "indirect",
			files: []file{{path: lib + "a.socket", content: alsoOnly}},
			want:  []model.Service{{Name: "a.socket", Description: "Also only", UnitFileState: "indirect", Path: lib + "a.socket"}},
		},
		{
			name: "masked in /etc hides the vendor unit",
			files: []file{
				{path: lib + "a.service", content: wanted},
				{path: etc + "a.service", link: "/dev/null"},
			},
			want: []model.Service{{Name: "a.service", UnitFileState: "masked", Path: etc + "a.service"}},
		},
		{
			name: "alias",
			files: []file{
				{path: lib + "a.service", content: wanted},
				{path: lib + "b.service", link: "a.service"},
			},
			want: []model.Service{
				{Name: "a.service", Description: "Wanted", UnitFileState: "disabled", Path: lib + "a.service"},
				{Name: "b.service", Description: "Wanted", UnitFileState: "alias", Path: lib + "a.service"},
			},
		},
		{
			name: "administrator's copy wins",
			files: []file{
				{path: lib + "a.service", content: wanted},
				{path: etc + "a.service", content: noInst},
			},
			want: []model.Service{{Name: "a.service", Description: "No install", UnitFileState: "static", Path: etc + "a.service"}},
		},
		{
			name: "generated and transient",
			files: []file{
				{path: "/run/systemd/generator.late/a.service", content: noInst},
				{path: "/run/systemd/transient/run-u7.service", content: noInst},
			},
			want: []model.Service{
				{Name: "a.service", Description: "No install", UnitFileState: "generated", Path: "/run/systemd/generator.late/a.service"},
				{Name: "run-u7.service", Description: "No install", UnitFileState: "transient", Path: "/run/systemd/transient/run-u7.service"},
			},
		},
		{
			name: "template and enabled instance",
			files: []file{
				{path: lib + "pg@.service", content: "[Unit]\nDescription=Cluster %i at %I%%\n[Service]\nUser=pg-%i\n[Install]\nWantedBy=multi-user.target\n"},
				{path: etc + "multi-user.target.wants/pg@15-main.service", link: lib + "pg@.service"},
				{path: etc + "multi-user.target.wants/gone@x.service", link: lib + "gone@.service"},
			},
			want: []model.Service{
				{Name: "pg@.service", Description: "Cluster %i at %I%%", UnitFileState: "enabled", Path: lib + "pg@.service", User: "pg-%i"},
				{Name: "pg@15-main.service", Description: "Cluster 15-main at 15/main%", UnitFileState: "enabled", Path: lib + "pg@.service", User: "pg-15-main"},
			},
		},
		{
			name: "separate /lib after /usr/lib",
			files: []file{
				{path: "/lib/systemd/system/a.service", content: noInst},
				{path: "/lib/systemd/system/b.service", content: wanted},
				{path: lib + "a.service", content: wanted},
			},
			want: []model.Service{
				{Name: "a.service", Description: "Wanted", UnitFileState: "disabled", Path: lib + "a.service"},
				{Name: "b.service", Description: "Wanted", UnitFileState: "disabled", Path: "/lib/systemd/system/b.service"},
			},
		},
		{
			name: "other kinds and bad names ignored",
			files: []file{
				{path: lib + "multi-user.target", content: noInst},
				{path: lib + "a.service~", content: noInst},
				{path: lib + "@.service", content: noInst},
				{path: lib + "a b.service", content: noInst},
				{path: etc + "a.service.d/override.conf", content: noInst},
			},
		},
		{
			name: "malformed and dangling skipped",
			files: []file{
				{path: lib + "bad.service", content: "[Unit\nDescription=x\n"},
				{path: lib + "nul.service", content: "[Unit]\x00"},
				{path: lib + "dangling.service", link: "nowhere.service"},
				{path: "/lib/systemd/system/bad.service", content: noInst},
				{path: lib + "ok.service", content: "stray line\n[Unit]\nDescription=Fine\nno equals\n"},
			},
			want:    []model.Service{{Name: "ok.service", Description: "Fine", UnitFileState: "static", Path: lib + "ok.service"}},
			skipped: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeTree(t, tt.files)
			res, err := New(Options{Root: root, BusTimeout: -1}).Collect(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.want {
				tt.want[i].Manager = "systemd"
			}
			if !slices.EqualFunc(res.Services, tt.want, func(a, b model.Service) bool { return a.Equal(&b) }) {
				t.Errorf("services:\n got  %+v\n want %+v", res.Services, tt.want)
			}
			if res.Skipped != tt.skipped {
				t.Errorf("Skipped = %d, want %d", res.Skipped, tt.skipped)
			}
		})
	}
}

func TestNotPresent(t *testing.T) {
	_, err := New(Options{Root: hostfs.Root(t.TempDir())}).Collect(context.Background())
	if !errors.Is(err, source.ErrNotPresent) {
		t.Fatalf("err = %v, want ErrNotPresent", err)
	}
}

func TestUsrMergeLibSkipped(t *testing.T) {
	// In the debian12 fixture /lib is a link to /usr/lib: every path must be under /usr/lib.
	res, err := New(Options{Root: fixtureRoot("debian12"), BusTimeout: -1}).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Services {
		if filepath.Dir(s.Path) == "/lib/systemd/system" && s.UnitFileState != "alias" {
			t.Errorf("%s listed from /lib although /lib is /usr/lib: %s", s.Name, s.Path)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		want unitKind
	}{
		{"nginx.service", plainUnit},
		{"dbus.socket", plainUnit},
		{"apt-daily.timer", plainUnit},
		{"getty@.service", templateUnit},
		{"getty@tty1.service", instanceUnit},
		{"systemd-fsck@dev-disk-by\\x2duuid-1234.service", instanceUnit},
		{"multi-user.target", invalidUnit},
		{"@.service", invalidUnit},
		{"a@b@c.service", invalidUnit},
		{".service", invalidUnit},
		{"a b.service", invalidUnit},
		{"service", invalidUnit},
	}
	for _, tt := range tests {
		if got := classify(tt.name); got != tt.want {
			t.Errorf("classify(%q) = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func BenchmarkCollect(b *testing.B) {
	roots := map[string]hostfs.Root{"live": "/"}
	for _, name := range fixtures {
		roots[name] = fixtureRoot(name)
	}
	for _, name := range []string{"debian12", "rocky9", "live"} {
		b.Run(name, func(b *testing.B) {
			s := New(Options{Root: roots[name]})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Collect(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
