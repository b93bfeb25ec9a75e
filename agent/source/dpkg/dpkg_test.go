package dpkg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/golden"
)

func TestCollectFixtures(t *testing.T) {
	for _, name := range []string{"debian12", "distroless"} {
		t.Run(name, func(t *testing.T) {
			res, err := New(hostfs.Root(fixture.Root(t, name))).Collect(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if res.Skipped != 0 {
				t.Errorf("skipped %d records of a clean database", res.Skipped)
			}
			golden.AssertJSON(t, filepath.Join("testdata", name+".golden.json"), res.Software)
		})
	}
}

func TestCollectDebian12Details(t *testing.T) {
	res, err := New(hostfs.Root(fixture.Root(t, "debian12"))).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]model.Package{}
	for _, p := range res.Software {
		byKey[p.Name+":"+p.Arch] = p
	}
	if _, ok := byKey["apache2:amd64"]; ok {
		t.Error("apache2 is in config-files state and must not be reported")
	}
	if p := byKey["mariadb-server:amd64"]; p.State != "unpacked" {
		t.Errorf("mariadb-server state = %q, want unpacked", p.State)
	}
	if p := byKey["curl:amd64"]; p.Name == "" || p.State != "" {
		t.Errorf("curl selected for removal but installed: got %+v", p)
	}
	ssh := byKey["openssh-server:amd64"]
	if ssh.Version != "1:9.2p1-2+deb12u3" || ssh.Origin != "openssh" || ssh.InstalledSize != 1880*1024 {
		t.Errorf("openssh-server = %+v", ssh)
	}
	if got := ssh.InstallTime.Format("2006-01-02 15:04:05"); got != "2024-06-10 08:14:13" {
		t.Errorf("openssh-server install time = %s", got)
	}
	// Multi-Arch: same packages are dated by name:arch.list.
	if got := byKey["libc6:i386"].InstallTime.Format("2006-01-02"); got != "2024-11-02" {
		t.Errorf("libc6:i386 install time = %s", got)
	}
	if p := byKey["docker-ce:amd64"]; p.Origin != "docker-ce" || p.Maintainer != "Docker <support@docker.com>" {
		t.Errorf("docker-ce = %+v", p)
	}
	if p := byKey["grafana:amd64"]; p.Vendor != "" {
		// "Vendor:" is not a dpkg field; only "Origin:" names a vendor.
		t.Errorf("grafana vendor = %q", p.Vendor)
	}
}

func TestNotPresent(t *testing.T) {
	_, err := New(hostfs.Root(t.TempDir())).Collect(context.Background())
	if !errors.Is(err, source.ErrNotPresent) {
		t.Fatalf("empty root: err = %v, want ErrNotPresent", err)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		implicit bool
		want     []string // name version state
		skipped  int
		err      bool
	}{
		{name: "installed", in: "Package: a\nStatus: install ok installed\nVersion: 1.0\n", want: []string{"a 1.0 "}},
		{name: "crlf and no final newline", in: "Package: a\r\nStatus: install ok installed\r\nVersion: 1.0", want: []string{"a 1.0 "}},
		{name: "states", in: "Package: a\nStatus: install ok half-configured\nVersion: 1\n\nPackage: b\nStatus: install ok triggers-pending\nVersion: 2\n\nPackage: c\nStatus: purge ok not-installed\n\nPackage: d\nStatus: install reinstreq half-installed\nVersion: 3\n",
			want: []string{"a 1 half-configured", "b 2 triggers-pending"}},
		{name: "missing version", in: "Package: a\nStatus: install ok installed\n\nPackage: b\nStatus: install ok installed\nVersion: 2\n", want: []string{"b 2 "}, skipped: 1},
		{name: "missing status", in: "Package: a\nVersion: 1\n\nPackage: b\nStatus: install ok installed\nVersion: 2\n", want: []string{"b 2 "}, skipped: 1},
		{name: "implicit status", in: "Package: a\nVersion: 1\n", implicit: true, want: []string{"a 1 "}},
		{name: "bad status", in: "Package: a\nStatus: installed\nVersion: 1\n\nPackage: b\nStatus: install ok weird\nVersion: 1\n\nPackage: c\nStatus: install ok installed\nVersion: 2\n", want: []string{"c 2 "}, skipped: 2},
		{name: "bad name", in: "Package: a b\nStatus: install ok installed\nVersion: 1\n\nPackage: c\nStatus: install ok installed\nVersion: 2\n", want: []string{"c 2 "}, skipped: 1},
		{name: "line without colon", in: "Package: a\ngarbage\nStatus: install ok installed\nVersion: 1\n\nPackage: c\nStatus: install ok installed\nVersion: 2\n", want: []string{"c 2 "}, skipped: 1},
		{name: "blank lines between", in: "\n\n\nPackage: a\nStatus: install ok installed\nVersion: 1\n\n\n\n", want: []string{"a 1 "}},
		{name: "empty", in: ""},
		{name: "not a database", in: "hello world\nthis is not dpkg\n", err: true},
		{name: "binary", in: "Package: a\x00\x01", err: true},
		{name: "only removed", in: "Package: a\nStatus: deinstall ok config-files\nVersion: 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkgs, skipped, err := Parse([]byte(tt.in), tt.implicit)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			var got []string
			for _, p := range pkgs {
				got = append(got, p.Name+" "+p.Version+" "+p.State)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("packages = %q, want %q", got, tt.want)
			}
			if !tt.err && skipped != tt.skipped {
				t.Errorf("skipped = %d, want %d", skipped, tt.skipped)
			}
		})
	}
}

func TestCorruptStatus(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "var/lib/dpkg")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "status"), []byte("\x7fELF\x02\x01\x01\x00garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(hostfs.Root(root)).Collect(context.Background())
	if err == nil || errors.Is(err, source.ErrNotPresent) || !strings.Contains(err.Error(), "/var/lib/dpkg/status") {
		t.Fatalf("corrupt status: err = %v, want a clear error naming the file", err)
	}
}

// TestMatchesDpkgQuery compares the reader with dpkg's own view of the machine it runs on.
func TestMatchesDpkgQuery(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		t.Skip("not a dpkg host")
	}
	dq, err := exec.LookPath("dpkg-query")
	if err != nil {
		t.Skip("dpkg-query not installed")
	}
	out, err := exec.Command(dq, "-W", "-f=${db:Status-Status} ${Package} ${Version} ${Architecture}\n").Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		status, rest, _ := strings.Cut(sc.Text(), " ")
		if status == "installed" {
			want = append(want, rest)
		}
	}
	res, err := New(hostfs.Root("/")).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range res.Software {
		if p.State == "" {
			got = append(got, p.Name+" "+p.Version+" "+p.Arch)
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if len(want) == 0 {
		t.Fatal("dpkg-query lists no installed package")
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("reader and dpkg-query differ: reader %d packages, dpkg-query %d", len(got), len(want))
		w := map[string]bool{}
		for _, s := range want {
			w[s] = true
		}
		for _, s := range got {
			if !w[s] {
				t.Errorf("only the reader: %s", s)
			}
			delete(w, s)
		}
		for s := range w {
			t.Errorf("only dpkg-query: %s", s)
		}
	}
	t.Logf("%d installed packages match dpkg-query", len(got))
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"debian12/var/lib/dpkg/status", "distroless/var/lib/dpkg/status.d/libc6", "hostile/var/lib/dpkg/status"} {
		b, err := os.ReadFile(filepath.Join(fixture.Roots(f), p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Add([]byte("Package: a\n \n\x00"), false)
	f.Fuzz(func(t *testing.T, data []byte, implicit bool) {
		pkgs, skipped, err := Parse(data, implicit)
		if err != nil && len(pkgs) > 0 {
			t.Fatalf("error %v with %d packages", err, len(pkgs))
		}
		// Every package and every skip comes from a stanza, and stanzas are separated by lines.
		if n := bytes.Count(data, []byte("\n")) + 1; len(pkgs)+skipped > n {
			t.Fatalf("%d packages + %d skipped from %d lines", len(pkgs), skipped, n)
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" || p.Source != "deb" || len(p.Summary) > maxFieldLen {
				t.Fatalf("invalid package %+v", p)
			}
			// Whatever bytes the database holds, its text leaves the source clean.
			for _, v := range []string{p.Version, p.Arch, p.Maintainer, p.Section, p.Vendor, p.Origin, p.Summary} {
				if protocol.CleanText(v, maxFieldLen) != v {
					t.Fatalf("text %q of %s not cleaned", v, p.Name)
				}
			}
		}
		// And the collector accepts what the agent makes of it.
		st := protocol.State{Host: model.Host{ID: "h"}, Software: pkgs}
		protocol.CleanState(&st)
		protocol.Normalize(&st)
		r := protocol.Report{HostID: "h", Seq: 1, Kind: protocol.KindFull, Hash: protocol.Hash(&st), State: &st}
		if err := protocol.Validate(&r); err != nil {
			t.Fatalf("the collector would refuse these packages: %v", err)
		}
	})
}

func BenchmarkParseHostStatus(b *testing.B) {
	data, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		b.Skip("no dpkg database on this host")
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(data, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCollectHost reads this machine's database afresh each time.
func BenchmarkCollectHost(b *testing.B) {
	if _, err := New("/").Collect(context.Background()); err != nil {
		b.Skip(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New("/").Collect(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCollectFixture(b *testing.B) {
	root := hostfs.Root(fixture.Root(b, "debian12"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(root).Collect(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCacheFollowsDatabase: an unchanged database is served from the cache, and dpkg's way of
// committing (a new status renamed over the old) is seen at once.
func TestCacheFollowsDatabase(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "var/lib/dpkg")
	if err := os.MkdirAll(filepath.Join(dir, "info"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "status-new"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "status-new"), filepath.Join(dir, "status")); err != nil {
			t.Fatal(err)
		}
	}
	s := New(hostfs.Root(root))
	write("Package: a\nStatus: install ok installed\nVersion: 1\n")
	first, err := s.Collect(context.Background())
	if err != nil || len(first.Software) != 1 {
		t.Fatalf("%+v %v", first, err)
	}
	first.Software[0].Name = "changed by the caller"
	again, _ := s.Collect(context.Background())
	if len(again.Software) != 1 || again.Software[0].Name != "a" {
		t.Fatalf("cached result was shared with the caller: %+v", again.Software)
	}
	write("Package: a\nStatus: install ok installed\nVersion: 2\n")
	after, _ := s.Collect(context.Background())
	if len(after.Software) != 1 || after.Software[0].Version != "2" {
		t.Fatalf("same-size rewrite not seen: %+v", after.Software)
	}
}

func BenchmarkCollectHostUnchanged(b *testing.B) {
	s := New("/")
	if _, err := s.Collect(context.Background()); err != nil {
		b.Skip(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Collect(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
