package model

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestPackageInfoTexts checks that Texts lists every field of PackageInfo, and every text
// field of InstallInfo, in declaration order, under its JSON name and pointing at the field
// itself: validation and cleaning reach a new field through Texts alone.
func TestPackageInfoTexts(t *testing.T) {
	var info PackageInfo
	texts := info.Texts()
	checkTexts(t, reflect.ValueOf(&info).Elem(), texts[:])
	var inst InstallInfo
	itexts := inst.Texts()
	checkTexts(t, reflect.ValueOf(&inst).Elem(), itexts[:])
}

func checkTexts(t *testing.T, v reflect.Value, texts []InfoText) {
	typ := v.Type()
	var strs []reflect.StructField
	for i := range typ.NumField() {
		if typ.Field(i).Type.Kind() == reflect.String {
			strs = append(strs, typ.Field(i))
		}
	}
	if len(strs) != len(texts) {
		t.Fatalf("%s has %d text fields, Texts lists %d", typ, len(strs), len(texts))
	}
	for i, f := range texts {
		sf := strs[i]
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if f.Name != name {
			t.Errorf("%s: Texts()[%d] is %q, want %q (field %s)", typ, i, f.Name, name, sf.Name)
		}
		if f.Ptr != v.FieldByIndex(sf.Index).Addr().Interface().(*string) {
			t.Errorf("%s: Texts()[%d] (%s) does not point at field %s", typ, i, f.Name, sf.Name)
		}
	}
}

// TestPackageWireFormat checks that a package encoded before PackageInfo held its
// descriptive fields decodes to the same values and encodes back to the same bytes.
func TestPackageWireFormat(t *testing.T) {
	const old = `{"source":"rpm","name":"openssl-libs","version":"1:3.0.7-27.el9","arch":"x86_64",` +
		`"install_time":"2024-05-10T10:25:11Z","vendor":"Rocky Enterprise Software Foundation",` +
		`"maintainer":"Rocky Linux Build System (Peridot) \u003creleng@rockylinux.org\u003e","section":"Unspecified",` +
		`"origin":"openssl-3.0.7-27.el9.src.rpm","license":"ASL 2.0","summary":"A general purpose cryptography library",` +
		`"installed_size_bytes":6308459,"state":"unpacked"}`
	var p Package
	if err := json.Unmarshal([]byte(old), &p); err != nil {
		t.Fatal(err)
	}
	want := Package{Source: "rpm", Name: "openssl-libs", Version: "1:3.0.7-27.el9", Arch: "x86_64",
		InstallTime: time.Date(2024, 5, 10, 10, 25, 11, 0, time.UTC),
		PackageInfo: PackageInfo{Vendor: "Rocky Enterprise Software Foundation",
			Maintainer: "Rocky Linux Build System (Peridot) <releng@rockylinux.org>", Section: "Unspecified",
			Origin: "openssl-3.0.7-27.el9.src.rpm", License: "ASL 2.0", Summary: "A general purpose cryptography library"},
		InstalledSize: 6308459, State: "unpacked"}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", p, want)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != old {
		t.Errorf("re-encoded\n%s\nwant the old bytes\n%s", b, old)
	}
	// Empty descriptive fields are left out, as before.
	b, _ = json.Marshal(Package{Source: "deb", Name: "x", Version: "1"})
	if got := `{"source":"deb","name":"x","version":"1"}`; string(b) != got {
		t.Errorf("bare package encodes as %s, want %s", b, got)
	}
}

func TestTitleKey(t *testing.T) {
	tests := []struct {
		name, source, pkg, key string
	}{
		{"plain", "deb", "nginx", "deb:nginx"},
		{"colon in the name", "deb", "a:b", "deb:a:b"},
		{"empty name", "rpm", "", "rpm:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TitleKey(tt.source, tt.pkg); got != tt.key {
				t.Errorf("TitleKey = %q, want %q", got, tt.key)
			}
			if got := string(AppendTitleKey([]byte("x"), tt.source, tt.pkg)); got != "x"+tt.key {
				t.Errorf("AppendTitleKey = %q, want %q", got, "x"+tt.key)
			}
			if got := (Package{Source: tt.source, Name: tt.pkg}).Title(); got != tt.key {
				t.Errorf("Package.Title = %q, want %q", got, tt.key)
			}
			src, name, ok := SplitTitleKey(tt.key)
			if !ok || src != tt.source || name != tt.pkg {
				t.Errorf("SplitTitleKey(%q) = %q, %q, %v", tt.key, src, name, ok)
			}
		})
	}
	if _, _, ok := SplitTitleKey("nocolon"); ok {
		t.Error("SplitTitleKey accepted a key without a colon")
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = AppendTitleKey(buf[:0], "deb", "nginx") }); n != 0 {
		t.Errorf("AppendTitleKey into a large enough buffer allocates %v times", n)
	}
}

func TestComparePackages(t *testing.T) {
	tests := []struct {
		name string
		a, b Package
		want int
	}{
		{"source first", Package{Source: "deb", Name: "z"}, Package{Source: "rpm", Name: "a"}, -1},
		{"then name", Package{Source: "deb", Name: "a", Arch: "z"}, Package{Source: "deb", Name: "b", Arch: "a"}, -1},
		{"then arch", Package{Source: "deb", Name: "a", Arch: "amd64", Version: "9"}, Package{Source: "deb", Name: "a", Arch: "i386", Version: "1"}, -1},
		{"then version as bytes", Package{Source: "deb", Name: "a", Version: "10"}, Package{Source: "deb", Name: "a", Version: "9"}, -1},
		{"descriptive fields ignored", Package{Source: "deb", Name: "a", PackageInfo: PackageInfo{Vendor: "x"}}, Package{Source: "deb", Name: "a"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ComparePackages(tt.a, tt.b); got != tt.want {
				t.Errorf("ComparePackages = %d, want %d", got, tt.want)
			}
			if got := ComparePackages(tt.b, tt.a); got != -tt.want {
				t.Errorf("reversed: %d, want %d", got, -tt.want)
			}
			a, b := tt.a, tt.b
			if got := ComparePackageKeys(a.Source, a.Name, a.Arch, a.Version, b.Source, b.Name, b.Arch, b.Version); got != tt.want {
				t.Errorf("ComparePackageKeys = %d, want %d", got, tt.want)
			}
		})
	}
}
