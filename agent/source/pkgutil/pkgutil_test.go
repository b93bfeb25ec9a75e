//go:build unix

package pkgutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/agent/source/plist"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/golden"
)

func collect(t *testing.T, root string) source.Result {
	t.Helper()
	res, err := New(hostfs.Root(root)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestCollect(t *testing.T) {
	res := collect(t, "testdata/root")
	golden.AssertJSON(t, "testdata/root.golden.json", res)
	if res.Skipped != 2 { // no identifier; not a property list
		t.Errorf("%d skipped, want 2", res.Skipped)
	}
	type want struct {
		version, prefix, process string
		at                       time.Time
		platform                 bool
	}
	wants := map[string]want{
		"pkg:com.apple.pkg.CLTools_Executables": {"15.3.0.0.1.1708646388", "/", "softwareupdated", time.Date(2024, 5, 20, 9, 0, 0, 0, time.UTC), true},
		"pkg:com.acme.agent":                    {"3.2.1", "opt/acme", "installer", time.Date(2024, 6, 1, 14, 30, 0, 0, time.UTC), false},
		"pkg:com.acme.store":                    {"1.0", "Applications", "storedownloadd", time.Date(2024, 6, 2, 8, 0, 0, 0, time.UTC), false},
		"pkg:com.acme.noversion":                {"unknown", "", "", time.Time{}, false},
		"pkg:com.acme.legacy":                   {"0.9", "", "Installer", time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC), false},
	}
	if len(res.Software) != len(wants) {
		t.Errorf("%d receipts, want %d", len(res.Software), len(wants))
	}
	for _, p := range res.Software {
		w, ok := wants[p.Title()]
		if !ok {
			t.Errorf("unexpected %s", p.Title())
			continue
		}
		if p.Version != w.version || p.Labels["install_prefix"] != w.prefix || p.Labels["install_process"] != w.process ||
			!p.InstallTime.Equal(w.at) || p.Platform != w.platform || p.Copies != 0 {
			t.Errorf("%s: %+v", p.Title(), p)
		}
	}
	accepted(t, res.Software)
}

// accepted fails t unless the collector accepts pkgs as they are.
func accepted(t *testing.T, pkgs []model.Package) {
	t.Helper()
	st := protocol.State{Host: model.Host{ID: "h"}, Software: slices.Clone(pkgs)}
	protocol.CleanState(&st)
	protocol.Normalize(&st)
	if len(st.Software) != len(pkgs) {
		t.Errorf("%d packages, %d once normalized: two share a key", len(pkgs), len(st.Software))
	}
	r := protocol.Report{HostID: "h", Seq: 1, Kind: protocol.KindFull, Hash: protocol.Hash(&st), State: &st}
	if err := protocol.Validate(&r); err != nil {
		t.Errorf("the collector would refuse these packages: %v", err)
	}
}

func TestNotPresent(t *testing.T) {
	if _, err := New(hostfs.Root(t.TempDir())).Collect(context.Background()); !errors.Is(err, source.ErrNotPresent) {
		t.Errorf("err = %v", err)
	}
}

func writeReceipt(t testing.TB, p, id, version string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`<plist version="1.0"><dict><key>PackageIdentifier</key><string>%s</string>`+
		`<key>PackageVersion</key><string>%s</string></dict></plist>`, id, version)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestHostile: receipts linked out of the root, a FIFO, one too large, one cyclic.
func TestHostile(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	dir := filepath.Join(root, "private/var/db/receipts")
	writeReceipt(t, filepath.Join(outside, "evil.plist"), "com.evil", "1")
	writeReceipt(t, filepath.Join(dir, "com.acme.ok.plist"), "com.acme.ok", "1")
	if err := os.Symlink(filepath.Join(outside, "evil.plist"), filepath.Join(dir, "com.evil.plist")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "Library")); err != nil { // /Library linked out
		t.Fatal(err)
	}
	if err := mkfifo(filepath.Join(dir, "fifo.plist")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "big.plist"), make([]byte, MaxReceipt+1), 0o644); err != nil {
		t.Fatal(err)
	}
	cyclic := []byte("bplist00\xa1\x00\x08")
	trailer := make([]byte, 32)
	trailer[6], trailer[7], trailer[15], trailer[31] = 1, 1, 1, 10
	if err := os.WriteFile(filepath.Join(dir, "cycle.plist"), append(cyclic, trailer...), 0o644); err != nil {
		t.Fatal(err)
	}
	res := collect(t, root)
	if len(res.Software) != 1 || res.Software[0].Name != "com.acme.ok" {
		t.Errorf("%+v", res.Software)
	}
	if res.Skipped != 2 { // big, cycle; links and the FIFO are not regular files
		t.Errorf("%d skipped, want 2", res.Skipped)
	}
}

func TestManyReceipts(t *testing.T) {
	root := t.TempDir()
	many(t, root, MaxReceipts+10)
	res := collect(t, root)
	if len(res.Software) != MaxReceipts || res.Skipped != 10 {
		t.Errorf("%d receipts, %d skipped", len(res.Software), res.Skipped)
	}
}

func many(t testing.TB, root string, n int) {
	for i := range n {
		writeReceipt(t, filepath.Join(root, "private/var/db/receipts", fmt.Sprintf("com.acme.p%d.plist", i)), fmt.Sprintf("com.acme.p%d", i), "1.0")
	}
}

func FuzzReceipt(f *testing.F) {
	for _, p := range []string{"testdata/root/private/var/db/receipts/com.acme.agent.plist",
		"testdata/root/private/var/db/receipts/com.acme.store.plist"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := plist.DecodeDict(b)
		if err != nil {
			return
		}
		r := ReceiptOf(d)
		if r.ID == "" {
			return
		}
		p, _ := r.Package("/private/var/db/receipts/x.plist")
		accepted(t, []model.Package{p})
	})
}

func BenchmarkCollect(b *testing.B) {
	root := b.TempDir()
	many(b, root, 1000)
	s := New(hostfs.Root(root))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Collect(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
