package host

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source/plist"
)

func TestMacOSRelease(t *testing.T) {
	for _, tt := range []struct {
		in     plist.Dict
		pretty string
	}{
		{plist.Dict{"ProductName": "macOS", "ProductVersion": "14.5", "ProductBuildVersion": "23F79"}, "macOS 14.5 (23F79)"},
		{plist.Dict{"ProductName": "Mac OS X", "ProductVersion": "10.11.6"}, "macOS 10.11.6"},
		{plist.Dict{}, "macOS"},
	} {
		if o := MacOSRelease(tt.in); o.PrettyName != tt.pretty || o.ID != "macos" || o.Family != "macos" {
			t.Errorf("%v: %+v", tt.in, o)
		}
	}
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMacOSRoot: the facts of a macOS root, read from its files only; a SystemVersion.plist
// that is not a property list is an error, the other facts still read.
func TestMacOSRoot(t *testing.T) {
	root := t.TempDir()
	if IsMacOS(hostfs.Root(root)) {
		t.Error("an empty root is macOS")
	}
	writeFile(t, filepath.Join(root, SystemVersionPlist), []byte(`<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>ProductName</key><string>macOS</string>
<key>ProductVersion</key><string>14.5</string><key>ProductBuildVersion</key><string>23F79</string></dict></plist>`))
	writeFile(t, filepath.Join(root, preferencesPlist), []byte(`<plist><dict><key>Network</key><dict>
<key>HostNames</key><dict><key>LocalHostName</key><string>mac-1</string></dict></dict></dict></plist>`))
	if !IsMacOS(hostfs.Root(root)) {
		t.Fatal("not macOS")
	}
	res, err := New(Options{Root: hostfs.Root(root), StateDir: t.TempDir(), MacOS: true}).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := res.Host
	if h.OS.VersionID != "14.5" || h.Hostname != "mac-1" || h.IDSource != "generated" || h.Kernel != "" || len(h.Filesystems) != 0 {
		t.Errorf("%+v", h)
	}
	writeFile(t, filepath.Join(root, SystemVersionPlist), []byte("bplist00 truncated"))
	res, err = New(Options{Root: hostfs.Root(root), StateDir: t.TempDir(), MacOS: true}).Collect(context.Background())
	if err == nil || res.Host == nil || res.Host.Hostname != "mac-1" {
		t.Errorf("garbage SystemVersion.plist: %v, %+v", err, res.Host)
	}
}
