package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/onus-project/onus/collector/index"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// TestWhySuggestsOwner: for software and services nobody owns, why names the owners whose
// users installed the software, own its files, or run the service, with the evidence per
// host; an owned asset gets no suggestion, and a suggestion is not an owner.
func TestWhySuggestsOwner(t *testing.T) {
	a := newTestAPI(t, Options{})
	jq := model.Package{Source: "deb", Name: "jq", Version: "1.6", InstallInfo: model.InstallInfo{InstalledBy: "alice",
		InstallCommand: "apt-get install jq", Requested: model.RequestedExplicit, Evidence: "apt-history"}}
	tool := model.Package{Source: "file", Name: "/opt/acme/bin/acmectl", Version: "sha256:0123456789ab",
		InstallInfo: model.InstallInfo{Location: "/opt/acme/bin/acmectl", User: "svc-acme", InstalledBy: "svc-acme", Evidence: "file-owner"}}
	for _, h := range []struct {
		id  string
		sw  []model.Package
		svc []model.Service
	}{
		{"h1", []model.Package{jq, tool}, []model.Service{
			{Manager: "systemd", Name: "acme.service", User: "svc-acme"},
			{Manager: "docker", Name: "shop-web-1", Image: "docker.io/library/nginx:1.25", Labels: map[string]string{"com.docker.compose.project": "shop"}},
		}},
		{"h2", []model.Package{jq, {Source: "deb", Name: "bash", Version: "5.2"}}, nil},
		{"h3", []model.Package{{Source: "deb", Name: "jq", Version: "1.6", InstallInfo: model.InstallInfo{InstalledBy: "mallory"}}}, nil},
	} {
		a.enrollWith(t, h.id, &protocol.State{Host: model.Host{ID: h.id, Hostname: "host-" + h.id}, Software: h.sw, Services: h.svc})
	}
	file := []byte(`owners:
  - {id: web, users: [alice]}
  - {id: acme, users: ["svc-acme*"]}
  - {id: shop-team, users: [shop]}
rules:
  - {id: bash, kind: software, match: {name: bash}, owner: web}
`)
	if w := a.do(t, http.MethodPost, "/api/v1/ownership/apply", testAdmin, file, "Content-Type", "application/yaml"); w.Code != http.StatusOK {
		t.Fatalf("apply: %d %s", w.Code, w.Body)
	}
	why := func(asset string) index.Why {
		t.Helper()
		w := a.do(t, http.MethodGet, "/api/v1/why?asset="+asset, testAdmin, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("why %s: %d %s", asset, w.Code, w.Body)
		}
		var res index.Why
		if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	want := map[string][]index.Suggestion{
		"software:deb:jq": {{Owner: "web", Hosts: 2, Evidence: []string{
			"host-h1: installed by alice (apt-history): apt-get install jq", "host-h2: installed by alice (apt-history): apt-get install jq"}}},
		"software:file:/opt/acme/bin/acmectl": {{Owner: "acme", Hosts: 1, Evidence: []string{"host-h1: installed by svc-acme (file-owner)"}}},
		"service:h1/systemd:acme.service":     {{Owner: "acme", Hosts: 1, Evidence: []string{"host-h1: systemd:acme.service runs as svc-acme"}}},
		"service:h1/docker:shop-web-1": {{Owner: "shop-team", Hosts: 1,
			Evidence: []string{"host-h1: docker:shop-web-1 is in compose project shop"}}},
		"software:deb:bash": nil, // owned by a rule
	}
	for asset, w := range want {
		got := why(asset)
		if got.Owned() && w != nil {
			t.Errorf("%s: owned by %s", asset, got.Owner)
		}
		if !slices.EqualFunc(got.Suggestions, w, func(a, b index.Suggestion) bool {
			return a.Owner == b.Owner && a.Hosts == b.Hosts && slices.Equal(a.Evidence, b.Evidence)
		}) {
			t.Errorf("%s: suggestions %+v, want %+v", asset, got.Suggestions, w)
		}
	}
}
