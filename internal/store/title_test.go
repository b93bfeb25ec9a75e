package store_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/store"
)

// TestTitleStoredFormat checks that a title stored before PackageInfo held its descriptive
// fields decodes to the same values and encodes back to the same bytes.
func TestTitleStoredFormat(t *testing.T) {
	const old = `{"source":"deb","name":"libssl3","first_seen":"2026-11-02T08:15:00Z","first_host":"web-01",` +
		`"vendor":"Debian","maintainer":"Debian OpenSSL Team \u003cpkg-openssl-devel@alioth-lists.debian.net\u003e",` +
		`"section":"libs","origin":"openssl","license":"Apache-2.0","summary":"Secure Sockets Layer toolkit - shared libraries"}`
	var got store.Title
	if err := json.Unmarshal([]byte(old), &got); err != nil {
		t.Fatal(err)
	}
	want := store.Title{Source: "deb", Name: "libssl3", FirstSeen: time.Date(2026, 11, 2, 8, 15, 0, 0, time.UTC), FirstHost: "web-01",
		PackageInfo: model.PackageInfo{Vendor: "Debian", Maintainer: "Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>",
			Section: "libs", Origin: "openssl", License: "Apache-2.0", Summary: "Secure Sockets Layer toolkit - shared libraries"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, want)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != old {
		t.Errorf("re-encoded\n%s\nwant the old bytes\n%s", b, old)
	}
	// A title without descriptive fields, as the collector stores for a bare package.
	const bare = `{"source":"apk","name":"musl","first_seen":"2026-11-02T08:15:00Z"}`
	b, _ = json.Marshal(store.Title{Source: "apk", Name: "musl", FirstSeen: want.FirstSeen})
	if string(b) != bare {
		t.Errorf("bare title encodes as %s, want %s", b, bare)
	}
}

func TestTitleNames(t *testing.T) {
	tests := []struct{ source, name, key, stored string }{
		{"deb", "nginx", "deb:nginx", "deb/nginx"},
		{"rpm", "a:b", "rpm:a:b", "rpm/a:b"},
	}
	for _, tt := range tests {
		ti := store.Title{Source: tt.source, Name: tt.name}
		if got := ti.Key(); got != tt.key {
			t.Errorf("Key = %q, want %q", got, tt.key)
		}
		if got := (store.Installation{Source: tt.source, Name: tt.name}).Title(); got != tt.key {
			t.Errorf("Installation.Title = %q, want %q", got, tt.key)
		}
		stored := store.TitleName(tt.source, tt.name)
		if stored != tt.stored {
			t.Errorf("TitleName = %q, want %q", stored, tt.stored)
		}
		if src, name, ok := store.SplitTitleName(stored); !ok || src != tt.source || name != tt.name {
			t.Errorf("SplitTitleName(%q) = %q, %q, %v", stored, src, name, ok)
		}
	}
}
