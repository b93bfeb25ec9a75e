package winprog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/golden"
)

// fixtures reads testdata/registry/*.reg (testdata/make.sh exports them from Wine) in name
// order into one registry.
func fixtures(t testing.TB) *RegFile {
	t.Helper()
	files, err := filepath.Glob("testdata/registry/*.reg")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	r := NewRegFile()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Add(b); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	return r
}

// TestCollect checks on the fixtures (made with Wine's msiexec, reg add and reg export):
// hiding, de-duplication, the views' architectures, users' hives, the date rules.
func TestCollect(t *testing.T) {
	res, err := New(fixtures(t)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	golden.AssertJSON(t, "testdata/registry.golden.json", res)
	type want struct {
		version, arch, vendor, user, location, date string
		size                                        uint64
		copies                                      int
	}
	wants := map[string]want{
		"Acme Widget/x64":        {"1.2.3", "x64", "Acme Corp", "", "", "2026-12-08", 0, 0},
		"Acme Widget/x86":        {"1.2.3", "x86", "Acme Corp", "", "", "2023-03-07", 0, 0},
		"Notepad Plus/x64":       {"8.6", "x64", "Notepad Plus Team", "", `%ProgramFiles%\Notepad Plus`, "2023-03-07", 4096 << 10, 1},
		`Acme "Quoted" Tool/x64`: {"2.0 beta", "x64", "", "", `C:\Program Files\Acme\Quoted\`, "2023-03-07", 10 << 10, 0},
		"Legacy Tool/x86":        {NoVersion, "x86", "", "", "", "", 0, 0},
		"Acme Sync/":             {"3.1.0", "", "Acme Corp", "root", "", "2024-01-15", 0, 1},
		"Pinned Notes/":          {"0.9", "", "", "bob", "", "2024-02-29", 0, 0},
		"Tiny Tool/":             {NoVersion, "", "", "S-1-5-21-9-9-9-1002", "", "", 12 << 10, 0},
	}
	if len(res.Software) != len(wants) {
		t.Errorf("%d programs, want %d", len(res.Software), len(wants))
	}
	for _, p := range res.Software {
		w, ok := wants[p.Name+"/"+p.Arch]
		if !ok {
			t.Errorf("unexpected %s (%s)", p.Title(), p.Arch)
			continue
		}
		date := ""
		if !p.InstallTime.IsZero() {
			date = p.InstallTime.Format(time.DateOnly)
		}
		if p.Source != "win" || p.Version != w.version || p.Vendor != w.vendor || p.User != w.user || p.Location != w.location ||
			date != w.date || p.InstalledSize != w.size || p.Copies != w.copies {
			t.Errorf("%s %s: %+v", p.Title(), p.Arch, p)
		}
	}
	// The copy of Acme Sync kept is the first user's by key path (Wine's user, root); bob's
	// profile is named through an expandable REGEDIT4 string.
	i := slices.IndexFunc(res.Software, func(p model.Package) bool { return p.Name == "Acme Sync" })
	if i < 0 || res.Software[i].Labels["scope"] != "user" {
		t.Errorf("Acme Sync: %+v", res.Software)
	}
	i = slices.IndexFunc(res.Software, func(p model.Package) bool { return p.Name == "Acme Widget" && p.Arch == "x64" })
	if i < 0 || res.Software[i].Labels["product_code"] != "{6D0E5B8A-6C2E-4F7B-9A51-3C1D2E4F5A61}" || res.Software[i].Labels["scope"] != "machine" {
		t.Errorf("the MSI product's labels: %+v", res.Software[i].Labels)
	}
	// Pinned Notes says WindowsInstaller "1" as a string, Tiny Tool's version is a DWORD.
	if res.Skipped != 1 {
		t.Errorf("%d skipped, want 1 (Tiny Tool's DWORD version)", res.Skipped)
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
	r, err := ParseReg([]byte("Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Acme]\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(r).Collect(context.Background()); !errors.Is(err, source.ErrNotPresent) {
		t.Errorf("err = %v", err)
	}
}

func TestParseInstallDate(t *testing.T) {
	for in, want := range map[string]string{
		"20240115": "2024-01-15", " 2024-01-15 ": "2024-01-15", "2024/01/15": "2024-01-15", "1/15/2024": "2024-01-15",
		"15.1.2024": "2024-01-15", "20241315": "", "19700101": "", "sometime": "", "": "", "1705276800": "",
	} {
		got, ok := ParseInstallDate(in)
		if s := got.Format(time.DateOnly); ok != (want != "") || ok && s != want {
			t.Errorf("%q: %v %v, want %q", in, s, ok, want)
		}
	}
}

// fakeRegistry serves generated Uninstall keys and fails where told.
type fakeRegistry struct {
	keys    int
	failKey string
	values  map[string]Value
}

func (f fakeRegistry) SubKeys(h Hive, path string, v View) ([]string, error) {
	if h != LocalMachine || v != View64 || path != uninstallPath {
		return nil, ErrNotExist
	}
	out := make([]string, f.keys)
	for i := range out {
		out[i] = fmt.Sprintf("k%06d", i)
	}
	return out, nil
}

func (f fakeRegistry) Key(h Hive, path string, v View) (Key, error) {
	if f.failKey != "" && strings.HasSuffix(path, f.failKey) {
		return Key{}, errors.New("access denied")
	}
	vals := map[string]Value{"displayname": {Type: TypeString, Data: utf16Data("Program " + path[len(path)-6:])},
		"displayversion": {Type: TypeString, Data: utf16Data("1.0")}}
	for k, v := range f.values {
		vals[k] = v
	}
	return Key{Values: vals}, nil
}

// TestHostile: unreadable keys, too many keys, values of the wrong type, control characters,
// over-long names and unterminated or odd-length strings are skipped, counted or cleaned,
// and the collector accepts what is left.
func TestHostile(t *testing.T) {
	res, err := New(fakeRegistry{keys: MaxPrograms + 5, failKey: "k000003"}).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Software) != MaxPrograms-1 || res.Skipped != 6 {
		t.Errorf("%d programs, %d skipped", len(res.Software), res.Skipped)
	}
	long := strings.Repeat("Ä", 400)
	res, err = New(fakeRegistry{keys: 3, values: map[string]Value{
		"displayname":     {Type: TypeString, Data: append(utf16Data(long + "\x01\x1b[31m")[:812], 0x41)},
		"displayversion":  {Type: TypeExpand, Data: []byte{'1', 0, 0x07, 0, '2'}},
		"publisher":       {Type: TypeBinary, Data: []byte{1, 2}},
		"estimatedsize":   {Type: TypeQWord, Data: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		"systemcomponent": {Type: TypeDWord, Data: []byte{1}},
		"installdate":     {Type: TypeMultiSZ, Data: utf16Data("20240101")},
	}}).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Every key has the same cleaned name and version: one program and two copies.
	if len(res.Software) != 1 || res.Software[0].Copies != 2 || res.Skipped != 9 {
		t.Fatalf("%+v, %d skipped", res.Software, res.Skipped)
	}
	p := res.Software[0]
	if len(p.Name) > protocol.MaxNameLen || strings.ContainsAny(p.Name+p.Version, "\x01\x07\x1b") || p.InstalledSize != 0 || !p.InstallTime.IsZero() {
		t.Errorf("%q %q %+v", p.Name, p.Version, p)
	}
	accepted(t, res.Software)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := New(fakeRegistry{keys: 10}).Collect(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func BenchmarkCollect(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("Windows Registry Editor Version 5.00\r\n")
	for i := range 2000 {
		fmt.Fprintf(&sb, "\r\n[HKEY_LOCAL_MACHINE\\%s\\{%08X-0000-0000-0000-000000000000}]\r\n\"DisplayName\"=\"Program %d\"\r\n"+
			"\"DisplayVersion\"=\"%d.0\"\r\n\"Publisher\"=\"Acme\"\r\n\"InstallDate\"=\"20240101\"\r\n\"EstimatedSize\"=dword:00000400\r\n"+
			"\"WindowsInstaller\"=dword:00000001\r\n", uninstallPath, i, i, i%7)
	}
	data := []byte(sb.String())
	r, err := ParseReg(data)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("parse", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := ParseReg(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("collect", func(b *testing.B) {
		for b.Loop() {
			if res, err := New(r).Collect(context.Background()); err != nil || len(res.Software) != 2000 {
				b.Fatal(err, len(res.Software))
			}
		}
	})
}
