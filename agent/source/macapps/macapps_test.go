//go:build unix

package macapps

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
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
	if res.Skipped != 1 { // Broken.app
		t.Errorf("%d skipped, want 1", res.Skipped)
	}
	type want struct {
		version, location, user, summary, minOS string
		appStore, platform                      bool
	}
	wants := map[string]want{
		"macapp:com.acme.editor/2.4.1":     {"2.4.1", "/Applications/Acme Editor.app", "", "Acme Editor", "12.0", true, false},
		"macapp:com.acme.editor/2.3.0":     {"2.3.0", "/Users/alice/Applications/Acme Editor.app", "alice", "Acme Editor", "12.0", false, false},
		"macapp:com.acme.tool/1.0":         {"1.0", "/Applications/Utilities/Acme Tool.app", "", "Acme Tool", "11.0", false, false},
		"macapp:bare/7":                    {"7", "/Applications/Bare.app", "", "bare", "", false, false},
		"macapp:com.acme.suite/5.0":        {"5.0", "/Applications/Suite.app", "", "Suite", "", false, false},
		"macapp:com.apple.calculator/11.0": {"11.0", "/System/Applications/Calculator.app", "", "Calculator", "14.5", false, true},
		"macapp:com.apple.Terminal/2.14":   {"2.14", "/System/Applications/Utilities/Terminal.app", "", "Terminal", "14.5", false, true},
	}
	if len(res.Software) != len(wants) {
		t.Errorf("%d applications, want %d", len(res.Software), len(wants))
	}
	for _, p := range res.Software {
		w, ok := wants[p.Title()+"/"+p.Version]
		if !ok {
			t.Errorf("unexpected %s %s at %s", p.Title(), p.Version, p.Location)
			continue
		}
		if p.Location != w.location || p.User != w.user || p.Summary != w.summary || p.Labels["min_os"] != w.minOS ||
			(p.Labels["app_store"] == "true") != w.appStore || p.Platform != w.platform || p.Copies != 0 {
			t.Errorf("%s: %+v", p.Title(), p)
		}
		if strings.HasPrefix(p.Name, "com.") && p.Labels["bundle_id"] != p.Name {
			t.Errorf("%s: bundle_id %q", p.Title(), p.Labels["bundle_id"])
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
	_, err := New(hostfs.Root(t.TempDir())).Collect(context.Background())
	if !errors.Is(err, source.ErrNotPresent) {
		t.Errorf("empty root: %v", err)
	}
}

func TestAppOf(t *testing.T) {
	for _, tt := range []struct {
		info          plist.Dict
		name, version string
	}{
		{plist.Dict{"CFBundleDisplayName": " D ", "CFBundleName": "N", "CFBundleShortVersionString": "1.2", "CFBundleVersion": "3"}, "D", "1.2"},
		{plist.Dict{"CFBundleDisplayName": "  ", "CFBundleName": "N", "CFBundleVersion": "3"}, "N", "3"},
		{plist.Dict{"CFBundleExecutable": "e", "CFBundleShortVersionString": int64(4)}, "e", "unknown"},
		{plist.Dict{}, "Dir", "unknown"},
	} {
		if a := AppOf(tt.info, "Dir.app"); a.Name != tt.name || a.Version != tt.version {
			t.Errorf("%v: %+v", tt.info, a)
		}
	}
}

// writeApp writes a bundle with an XML Info.plist under root.
func writeApp(t testing.TB, root, p, id, version string) {
	t.Helper()
	dir := filepath.Join(root, p, "Contents")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>CFBundleIdentifier</key><string>%s</string>
<key>CFBundleShortVersionString</key><string>%s</string></dict></plist>`, id, version)
	if err := os.WriteFile(filepath.Join(dir, "Info.plist"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestHostile: bundles linked out of the root, an Info.plist too large, one cyclic, a FIFO
// as an Info.plist, a folder of bundles that is a link out of the root.
func TestHostile(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	writeApp(t, outside, "Evil.app", "com.evil.outside", "6.6.6")
	writeApp(t, root, "Applications/Good.app", "com.acme.good", "1")
	apps := filepath.Join(root, "Applications")
	for name, target := range map[string]string{
		"Abs.app":   filepath.Join(outside, "Evil.app"),
		"Rel.app":   strings.Repeat("../", 20) + strings.TrimPrefix(outside, "/") + "/Evil.app",
		"Loop.app":  "Loop.app",
		"Outside":   outside, // a folder one level down, linked out of the root
		"Plist.app": "Good.app",
	} {
		if err := os.Symlink(target, filepath.Join(apps, name)); err != nil {
			t.Fatal(err)
		}
	}
	// Contents linked out of the root; an App Store receipt linked out of it.
	os.MkdirAll(filepath.Join(apps, "Ctr.app"), 0o755)
	if err := os.Symlink(filepath.Join(outside, "Evil.app", "Contents"), filepath.Join(apps, "Ctr.app", "Contents")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(outside, "mas"), 0o755)
	os.WriteFile(filepath.Join(outside, "mas", "receipt"), []byte("r"), 0o644)
	if err := os.Symlink(filepath.Join(outside, "mas"), filepath.Join(apps, "Good.app", "Contents", "_MASReceipt")); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(apps, "Big.app", "Contents")
	os.MkdirAll(big, 0o755)
	if err := os.WriteFile(filepath.Join(big, "Info.plist"), make([]byte, MaxInfoPlist+1), 0o644); err != nil {
		t.Fatal(err)
	}
	cyc := filepath.Join(apps, "Cycle.app", "Contents")
	os.MkdirAll(cyc, 0o755)
	cyclic := append([]byte("bplist00\xa1\x00"), 8) // an array holding itself
	trailer := make([]byte, 32)
	trailer[6], trailer[7], trailer[15], trailer[31] = 1, 1, 1, 10
	os.WriteFile(filepath.Join(cyc, "Info.plist"), append(cyclic, trailer...), 0o644)
	fifo := filepath.Join(apps, "Fifo.app", "Contents")
	os.MkdirAll(fifo, 0o755)
	if err := syscall.Mkfifo(filepath.Join(fifo, "Info.plist"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan source.Result)
	go func() { done <- collect(t, root) }()
	var res source.Result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a FIFO Info.plist blocked the source")
	}
	for _, p := range res.Software {
		if p.Name == "com.evil.outside" {
			t.Errorf("read a bundle out of the root: %+v", p)
		}
	}
	// Good.app and Plist.app, the same application twice.
	if len(res.Software) != 1 || res.Software[0].Name != "com.acme.good" || res.Software[0].Copies != 1 ||
		res.Software[0].Labels["app_store"] != "" {
		t.Errorf("%+v", res.Software)
	}
	// Abs, Rel, Loop, Ctr, Big, Cycle, Fifo.
	if res.Skipped != 7 {
		t.Errorf("%d skipped, want 7", res.Skipped)
	}
}

// TestManyApps: past MaxApps bundles, the rest count as skipped.
func TestManyApps(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,050 bundles")
	}
	root := t.TempDir()
	manyApps(t, root, MaxApps+50)
	start := time.Now()
	res := collect(t, root)
	if len(res.Software) != MaxApps || res.Skipped != 50 {
		t.Errorf("%d applications, %d skipped", len(res.Software), res.Skipped)
	}
	t.Logf("%d bundles in %v", MaxApps+50, time.Since(start))
}

func manyApps(t testing.TB, root string, n int) {
	for i := range n {
		writeApp(t, root, fmt.Sprintf("Applications/Folder%d/App%d.app", i%50, i), fmt.Sprintf("com.acme.app%d", i), "1.0")
	}
}

func BenchmarkCollect(b *testing.B) {
	root := b.TempDir()
	manyApps(b, root, 1000)
	s := New(hostfs.Root(root))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Collect(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzInfoPlist(f *testing.F) {
	for _, p := range []string{"testdata/root/Applications/Acme Editor.app/Contents/Info.plist",
		"testdata/root/Applications/Utilities/Acme Tool.app/Contents/Info.plist"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := plist.DecodeDict(b)
		if err != nil {
			return
		}
		p, _ := AppOf(info, "X.app").Package("/Applications/X.app", Folder{Path: "/Applications"})
		if p.Name == "" || p.Version == "" || len(p.Name) > protocol.MaxNameLen {
			t.Fatalf("package %+v", p)
		}
		accepted(t, []model.Package{p})
	})
}
