package protocol

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/model"
)

// TestReportWireFormat checks that a report as agents sent it before model.PackageInfo
// held the descriptive fields decodes to the same values, is valid, and encodes back to the
// same bytes: older agents and newer collectors keep talking.
func TestReportWireFormat(t *testing.T) {
	const old = `{"host_id":"web-01","seq":7,"kind":"delta","sent_at":"2026-11-20T09:30:00Z",` +
		`"base_hash":"` + zeros + `","hash":"` + ones + `",` +
		`"delta":{"software_upsert":[{"source":"deb","name":"nginx","version":"1.22.1-9","arch":"amd64",` +
		`"install_time":"2026-11-20T09:29:00Z","vendor":"Debian","maintainer":"Debian Nginx Maintainers",` +
		`"section":"httpd","origin":"nginx","license":"BSD-2-Clause","summary":"small, powerful, scalable web/proxy server",` +
		`"installed_size_bytes":1234}]},"capacity":{"collected_at":"2026-11-20T09:30:00Z","memory_available_bytes":0,"swap_free_bytes":0}}`
	var r Report
	if err := Decode(strings.NewReader(old), "", DefaultLimits, &r); err != nil {
		t.Fatal(err)
	}
	if err := Validate(&r); err != nil {
		t.Fatalf("old-format report refused: %v", err)
	}
	want := model.Package{Source: "deb", Name: "nginx", Version: "1.22.1-9", Arch: "amd64",
		InstallTime: time.Date(2026, 11, 20, 9, 29, 0, 0, time.UTC),
		PackageInfo: model.PackageInfo{Vendor: "Debian", Maintainer: "Debian Nginx Maintainers", Section: "httpd",
			Origin: "nginx", License: "BSD-2-Clause", Summary: "small, powerful, scalable web/proxy server"},
		InstalledSize: 1234}
	if r.Delta == nil || len(r.Delta.SoftwareUpsert) != 1 || !reflect.DeepEqual(r.Delta.SoftwareUpsert[0], want) {
		t.Fatalf("decoded delta %+v, want one upsert %+v", r.Delta, want)
	}
	b, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != old {
		t.Errorf("re-encoded\n%s\nwant the old bytes\n%s", b, old)
	}
}

const (
	zeros = "0000000000000000000000000000000000000000000000000000000000000000"
	ones  = "1111111111111111111111111111111111111111111111111111111111111111"
)
