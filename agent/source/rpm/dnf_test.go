//go:build unix

package rpm

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// The dnf fixtures (testdata/make-dnf.sh): who installed each package, and how.
const (
	dnf4Root = "testdata/dnf4"
	dnf5Root = "testdata/dnf5"
	dnf4Cmd  = "--installroot=/tmp/onus-dnf-fixture/root --releasever=9 --config=/tmp/onus-dnf-fixture/dnf.conf "
)

type attribution struct{ requested, by, cmd, evidence string }

func attributions(t *testing.T, root string) (map[string]attribution, int) {
	t.Helper()
	res, err := New(hostfs.Root(root)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]attribution{}
	for _, p := range res.Software {
		got[p.Name] = attribution{p.Requested, p.InstalledBy, p.InstallCommand, p.Evidence}
	}
	return got, res.Skipped
}

func checkAttributions(t *testing.T, got, want map[string]attribution) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d packages, want %d: %v", len(got), len(want), got)
	}
	for name, w := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("%s missing", name)
		} else if g != w {
			t.Errorf("%s:\n got %+v\nwant %+v", name, g, w)
		}
	}
}

func TestDNF4History(t *testing.T) {
	got, skipped := attributions(t, dnf4Root)
	const e = evidenceDNF
	checkAttributions(t, got, map[string]attribution{
		"acme-hello":    {"explicit", "alice", dnf4Cmd + "install acme-hello", e},
		"acme-libhello": {"dependency", "alice", dnf4Cmd + "install acme-hello", e},
		"acme-extras":   {"dependency", "alice", dnf4Cmd + "install acme-hello", e}, // a weak dependency
		// Installed by alice, removed by root, installed again by bob.
		"acme-tool": {"explicit", "bob", dnf4Cmd + "install acme-tool", e},
		// Upgraded by no login: root; the reason is inherited from the install.
		"acme-upd": {"explicit", "root", dnf4Cmd + "upgrade acme-upd", e},
		// Installed by a uid no passwd line names, with control bytes in its command line,
		// then marked as a dependency by alice in a transaction still in the WAL.
		"acme-marked": {"dependency", "uid:1234", dnf4Cmd + `--setopt=local.name=local\x1b[31m install acme-marked`, e},
		// Removed through dnf, then installed by rpm alone: the history's record is gone.
		"acme-gone": {},
		"acme-bare": {}, // rpm alone
	})
	if skipped != 0 {
		t.Errorf("skipped %d", skipped)
	}
}

func TestDNF5History(t *testing.T) {
	got, skipped := attributions(t, dnf5Root)
	const e = evidenceDNF5
	checkAttributions(t, got, map[string]attribution{
		// The unfinished reinstall of bob's (transaction 13) is not read.
		"acme-hello":    {"explicit", "alice", "dnf install acme-hello", e},
		"acme-libhello": {"dependency", "alice", "dnf install acme-hello", e},
		"acme-extras":   {"dependency", "alice", "dnf install acme-hello", e},
		"acme-tool":     {"explicit", "bob", "dnf install acme-tool", e},
		"acme-upd":      {"explicit", "root", "dnf upgrade acme-upd", e},
		"acme-marked":   {"dependency", "uid:1234", `dnf install acme-marked --setopt=fedora.name=\x1b[31m`, e},
		// Only the system state knows them: installed by rpm, an external user.
		"acme-gone": {"explicit", "", "", evidenceDNF5State},
		"acme-bare": {"explicit", "", "", evidenceDNF5State},
	})
	if skipped != 0 {
		t.Errorf("skipped %d", skipped)
	}
}

// copyTree copies the fixture root from into a new directory.
func copyTree(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		copyFile(t, p, filepath.Join(to, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// TestDNFHostile checks that what cannot be read of dnf's records leaves the fields empty,
// is counted, and never fails the source or loses a package.
func TestDNFHostile(t *testing.T) {
	hist4 := "/var/lib/dnf/history.sqlite"
	hist5 := "/usr/lib/sysimage/libdnf5/transaction_history.sqlite"
	toml := "/usr/lib/sysimage/libdnf5/packages.toml"
	valid := readFixture(t, dnf4Root+hist4)
	tests := []struct {
		name, fixture string
		setup         func(t *testing.T, root string)
		skipped       int
		attributed    int // packages with an InstalledBy
		requested     int // packages with a Requested
	}{
		{"garbage history", dnf4Root, func(t *testing.T, r string) {
			os.WriteFile(r+hist4, bytes.Repeat([]byte("not sqlite "), 500), 0o644)
		}, 1, 0, 0},
		{"truncated history", dnf4Root, func(t *testing.T, r string) {
			os.WriteFile(r+hist4, valid[:len(valid)/2], 0o644)
		}, 1, 0, 0},
		{"history whose rpm table lacks a column", dnf4Root, func(t *testing.T, r string) {
			os.WriteFile(r+hist4, bytes.ReplaceAll(valid, []byte("item_id INTEGER UNIQUE NOT NULL"), []byte("itex_id INTEGER UNIQUE NOT NULL")), 0o644)
		}, 1, 0, 0},
		{"empty history", dnf4Root, func(t *testing.T, r string) {
			os.WriteFile(r+hist4, nil, 0o644)
		}, 1, 0, 0},
		{"history too large", dnf4Root, func(t *testing.T, r string) {
			os.Truncate(r+hist4, maxHistoryDB+1) // sparse
		}, 1, 0, 0},
		{"history a FIFO", dnf4Root, func(t *testing.T, r string) {
			os.Remove(r + hist4)
			if err := syscall.Mkfifo(r+hist4, 0o644); err != nil {
				t.Skip(err)
			}
		}, 1, 0, 0},
		{"history a link out of the root", dnf4Root, func(t *testing.T, r string) {
			os.Remove(r + hist4)
			abs, _ := filepath.Abs(dnf4Root + hist4)
			os.Symlink(abs, r+hist4) // resolved inside the root: not there
		}, 0, 0, 0},
		{"no passwd", dnf4Root, func(t *testing.T, r string) {
			os.Remove(r + "/etc/passwd")
		}, 0, 6, 6},
		{"garbage WAL", dnf4Root, func(t *testing.T, r string) {
			os.WriteFile(r+hist4+"-wal", bytes.Repeat([]byte{0x37, 0x7f, 6, 0x82}, 1000), 0o644)
		}, 0, 6, 6},
		{"WAL a FIFO", dnf4Root, func(t *testing.T, r string) {
			os.Remove(r + hist4 + "-wal")
			if err := syscall.Mkfifo(r+hist4+"-wal", 0o644); err != nil {
				t.Skip(err)
			}
		}, 0, 6, 6},
		{"garbage dnf5 history", dnf5Root, func(t *testing.T, r string) {
			os.WriteFile(r+hist5, []byte("SQLite format 3\x00garbage"), 0o644)
		}, 1, 0, 8},
		{"garbage packages.toml", dnf5Root, func(t *testing.T, r string) {
			os.WriteFile(r+toml, []byte("[packages]\n\"a.x86_64\" = \"User\"\nnonsense\n[packages.\"b\n"), 0o644)
		}, 3, 6, 6},
		{"packages.toml of another version", dnf5Root, func(t *testing.T, r string) {
			os.WriteFile(r+toml, []byte("version = \"2.0\"\n[packages]\n\"acme-bare.noarch\" = {reason=\"User\"}\n"), 0o644)
		}, 1, 6, 6},
		{"packages.toml as toml11 3 wrote it", dnf5Root, func(t *testing.T, r string) {
			os.WriteFile(r+toml, []byte("version = \"1.0\"\n\n[packages]\n[packages.\"acme-bare.noarch\"]\nreason = \"User\"\n"+
				"[packages.'acme-gone.noarch']\nreason = 'Dependency'\n"), 0o644)
		}, 0, 6, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := copyTree(t, tt.fixture)
			tt.setup(t, root)
			res, err := New(hostfs.Root(root)).Collect(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var by, req int
			for _, p := range res.Software {
				if p.InstalledBy != "" {
					by++
				}
				if p.Requested != "" {
					req++
				}
				for _, f := range p.InstallInfo.Texts() {
					if len(*f.Ptr) > protocol.MaxFieldLen || protocol.CleanText(*f.Ptr, protocol.MaxFieldLen) != *f.Ptr {
						t.Errorf("%s: %s %q is not clean", p.Name, f.Name, *f.Ptr)
					}
				}
			}
			if len(res.Software) != 8 || res.Skipped != tt.skipped || by != tt.attributed || req != tt.requested {
				t.Errorf("%d packages, %d skipped, %d attributed, %d requested; want 8, %d, %d, %d",
					len(res.Software), res.Skipped, by, req, tt.skipped, tt.attributed, tt.requested)
			}
		})
	}
}

// TestDNF4WAL checks that the transactions dnf left in the WAL are read: without it,
// acme-marked was never marked a dependency.
func TestDNF4WAL(t *testing.T) {
	root := copyTree(t, dnf4Root)
	os.Remove(root + dnf4HistoryPath + "-wal")
	got, _ := attributions(t, root)
	if g := got["acme-marked"]; g.requested != model.RequestedExplicit || g.by != "uid:1234" {
		t.Errorf("without the WAL, acme-marked is %+v; want explicit, by uid:1234", g)
	}
}

// TestDNFCache checks that a change to dnf's records alone (dnf mark) is read.
func TestDNFCache(t *testing.T) {
	root := copyTree(t, dnf5Root)
	src := New(hostfs.Root(root))
	if _, err := src.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := root + "/usr/lib/sysimage/libdnf5/packages.toml"
	b := readFixture(t, p)
	os.WriteFile(p, bytes.Replace(b, []byte(`"acme-hello.x86_64" = { reason = "User" }`), []byte(`"acme-hello.x86_64" = { reason = "Dependency" }`), 1), 0o644)
	res, err := src.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Software {
		if p.Name == "acme-hello" && p.Requested != model.RequestedDependency {
			t.Errorf("acme-hello is %q after the change", p.Requested)
		}
	}
}

func TestParseColumns(t *testing.T) {
	tests := []struct {
		sql   string
		cols  string
		rowid int
	}{
		{`CREATE TABLE trans (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        dt_begin INTEGER NOT NULL,      /* (unix timestamp) date, and time */
        user_id INTEGER NOT NULL,       -- user ID (UID), with a comma
        cmdline TEXT
    , comment TEXT DEFAULT '')`, "id dt_begin user_id cmdline comment", 0},
		{`CREATE TABLE "trans_item" (
    "id" INTEGER,
    "trans_id" INTEGER,
    "action_id" INTEGER NOT NULL,    /* (enum) */
    PRIMARY KEY("id" AUTOINCREMENT),
    FOREIGN KEY("trans_id") REFERENCES "trans"("id")
)`, "id trans_id action_id", 0},
		{`CREATE TABLE rpm (item_id INTEGER UNIQUE NOT NULL, name TEXT NOT NULL, epoch INTEGER NOT NULL,
        CONSTRAINT rpm_unique_nevra UNIQUE (name, epoch))`, "item_id name epoch", -1},
		{`CREATE TABLE t ([a b] TEXT, ` + "`c`" + ` INT PRIMARY KEY, d DECIMAL(10, 2), e)`, "a b c d e", -1},
		{`CREATE TABLE t (a TEXT, b INTEGER, PRIMARY KEY (a, b))`, "a b", -1},
		{`CREATE TABLE t (a TEXT`, "", -1},
	}
	for _, tt := range tests {
		cols, rowid := parseColumns(tt.sql)
		if strings.Join(cols, " ") != tt.cols || rowid != tt.rowid {
			t.Errorf("%s:\n got %q, rowid %d\nwant %q, rowid %d", tt.sql, cols, rowid, tt.cols, tt.rowid)
		}
	}
}

func TestEVRIs(t *testing.T) {
	tests := []struct {
		v                string
		epoch            int64
		version, release string
		want             bool
	}{
		{"1.0-1", 0, "1.0", "1", true},
		{"1:3.0-1", 1, "3.0", "1", true},
		{"1:3.0-1", 0, "3.0", "1", false},
		{"3.0-1", 1, "3.0", "1", false},
		{"1.0-1", 0, "1.0-1", "", false},
		{"1.0-1.el9", 0, "1.0", "1", false},
		{"12:1.0-1", 1, "1.0", "1", false},
	}
	for _, tt := range tests {
		if got := evrIs(tt.v, tt.epoch, []byte(tt.version), []byte(tt.release)); got != tt.want {
			t.Errorf("evrIs(%q, %d, %q, %q) = %v", tt.v, tt.epoch, tt.version, tt.release, got)
		}
	}
}

func TestInstalledBy(t *testing.T) {
	names := map[int64]string{0: "root", 1000: "alice"}
	for uid, want := range map[int64]string{0: "root", 1000: "alice", 1001: "uid:1001", -1: "root",
		4294967295: "root", 2147483647: "root", -5: "uid:-5"} {
		if got := installedBy(uid, names); got != want {
			t.Errorf("installedBy(%d) = %q, want %q", uid, got, want)
		}
	}
	if got := installedBy(0, nil); got != "root" {
		t.Errorf("uid 0 without passwd: %q", got)
	}
}

func TestParsePackagesTOML(t *testing.T) {
	data := `version = "1.0"
# a comment
[packages]
"a.x86_64" = { reason = "User" }
"b.noarch" = {reason="Dependency",from_repo="x"}
"c.\u0078" = { reason = "Weak Dependency" }
'd.noarch' = { reason = 'Group' }
bare = { reason = "User" }
"e.noarch" = { reason = 1 }
"f.noarch" = { reason = "bad\q" }
[groups]
"g.noarch" = { reason = "User" }
[packages."h.i686"]
reason = "External User"
`
	got := map[string]string{}
	skipped := parsePackagesTOML([]byte(data), func(na, r string) { got[na] = r })
	want := map[string]string{"a.x86_64": "User", "b.noarch": "Dependency", "c.x": "Weak Dependency",
		"d.noarch": "Group", "h.i686": "External User"}
	if len(got) != len(want) || skipped != 3 {
		t.Errorf("got %v, %d skipped; want %v, 3", got, skipped, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
}

// fixturePackages are the packages of the dnf fixtures' rpm database, for the fuzz targets.
func fixturePackages(t testing.TB) []model.Package { return fixturePackagesOf(t, dnf4Root) }

// fixturePackagesOf are the packages of a fixture root's rpm database, without what the
// package managers' records add.
func fixturePackagesOf(t testing.TB, root string) []model.Package {
	res, err := New(hostfs.Root(root)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range res.Software {
		res.Software[i].InstallInfo = model.InstallInfo{}
	}
	return res.Software
}

// FuzzDNFHistory reads any bytes as dnf 4's and dnf 5's history databases: the reading stops,
// and every field it gives is clean text of bounded size.
func FuzzDNFHistory(f *testing.F) {
	f.Add(readFixture(f, dnf4Root+dnf4HistoryPath), false)
	f.Add(readFixture(f, dnf5Root+dnf5HistoryPath), true)
	pkgs := fixturePackages(f)
	f.Fuzz(func(t *testing.T, db []byte, five bool) {
		if len(db) > maxFuzzInput {
			return
		}
		d := &dnf4
		if five {
			d = &dnf5
		}
		x := newPkgIndex(pkgs)
		h, skipped, err := d.read(bytes.NewReader(db), int64(len(db)), nil, 0, x)
		if skipped < 0 || skipped > len(db) {
			t.Fatalf("%d skipped from %d bytes", skipped, len(db))
		}
		if err != nil {
			return
		}
		out := make([]model.Package, len(pkgs))
		copy(out, pkgs)
		d.apply(h, out, map[int64]string{1000: "alice"})
		for _, p := range out {
			for _, fl := range p.InstallInfo.Texts() {
				if protocol.CleanText(*fl.Ptr, protocol.MaxFieldLen) != *fl.Ptr {
					t.Fatalf("%s %q is not clean", fl.Name, *fl.Ptr)
				}
			}
		}
	})
}

func FuzzParsePackagesTOML(f *testing.F) {
	f.Add(readFixture(f, dnf5Root+dnf5PackagesPath))
	f.Add([]byte("version = \"1.0\"\n[packages.\"a.b\"]\nreason = \"\\u00e9\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		skipped := parsePackagesTOML(data, func(na, reason string) {
			if len(na)+len(reason) > len(data) {
				t.Fatalf("entry %q %q from %d bytes", na, reason, len(data))
			}
			n++
		})
		if skipped < 0 || n+skipped > len(data) {
			t.Fatalf("%d entries, %d skipped from %d bytes", n, skipped, len(data))
		}
	})
}

func FuzzParseColumns(f *testing.F) {
	f.Add(`CREATE TABLE "trans" ("id" INTEGER, "x" TEXT /* c, d */, PRIMARY KEY("id" AUTOINCREMENT))`)
	f.Add("CREATE TABLE t (a INTEGER PRIMARY KEY, [b c] TEXT -- x\n, `d` BLOB)")
	f.Fuzz(func(t *testing.T, sql string) {
		cols, rowid := parseColumns(sql)
		if rowid < -1 || rowid >= len(cols) || len(cols) > len(sql) {
			t.Fatalf("%d columns, rowid %d from %q", len(cols), rowid, sql)
		}
	})
}

func BenchmarkDNFHistory(b *testing.B) {
	pkgs := fixturePackages(b)
	for _, fx := range []struct {
		name string
		d    *dialect
		root string
	}{{"dnf4", &dnf4, dnf4Root}, {"dnf5", &dnf5, dnf5Root}} {
		b.Run(fx.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out := make([]model.Package, len(pkgs))
				copy(out, pkgs)
				if n := installInfo(hostfs.Root(fx.root), out); n != 0 {
					b.Fatalf("%d skipped", n)
				}
			}
		})
	}
}

// TestDNFEvents checks that the events of a change carry who made it: the dnf 4 fixture's
// packages installed on a host that had only acme-upd 1.0.
func TestDNFEvents(t *testing.T) {
	res, err := New(hostfs.Root(dnf4Root)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	now := res.Software[0].InstallTime.Add(time.Hour)
	var old []model.Package
	for _, p := range res.Software {
		if p.Name == "acme-upd" {
			p.Version, p.InstallInfo = "1.0-1", model.InstallInfo{}
			old = append(old, p)
		}
	}
	evs := protocol.Events(&protocol.State{Software: old}, &protocol.State{Software: res.Software}, now)
	n := 0
	for _, e := range evs {
		switch {
		case e.Name == "acme-upd" && (e.Type != protocol.EventUpgraded || e.InstalledBy != "root" || e.InstallCommand != dnf4Cmd+"upgrade acme-upd"):
			t.Errorf("upgrade event %+v", e)
		case e.Name == "acme-libhello" && (e.InstalledBy != "alice" || e.Requested != model.RequestedDependency || e.Evidence != evidenceDNF):
			t.Errorf("install event %+v", e)
		}
		if e.InstalledBy != "" {
			n++
		}
	}
	if len(evs) != 8 || n != 6 {
		t.Errorf("%d events, %d attributed; want 8, 6", len(evs), n)
	}
}
