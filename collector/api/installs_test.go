package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/onus-project/onus/collector/index"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/protocol"
)

// TestRulesOnInstallations: software rules select by who installed a title and where it is,
// and inherit the owner of the users who installed it; the owner follows the reports, a
// dry run previews such rules before the index keeps what they need, and a registry without
// them stops reading installations.
func TestRulesOnInstallations(t *testing.T) {
	a := newTestAPI(t, Options{})
	byAlice := model.InstallInfo{InstalledBy: "alice", Evidence: "apt-history"}
	jq := model.Package{Source: "deb", Name: "jq", Version: "1.6", InstallInfo: byAlice}
	tool := model.Package{Source: "file", Name: "/opt/acme/bin/acmectl", Version: "sha256:0123456789ab",
		InstallInfo: model.InstallInfo{Location: "/opt/acme/bin/acmectl", User: "svc-acme"}}
	hosts := map[string][]model.Package{"h1": {jq, tool}, "h2": {{Source: "deb", Name: "jq", Version: "1.6"}}}
	creds := map[string]string{}
	for id, sw := range hosts {
		creds[id] = a.enrollWith(t, id, &protocol.State{Host: model.Host{ID: id, Hostname: "host-" + id}, Software: sw})
	}
	plain := []byte("owners:\n  - {id: data, users: [alice]}\n  - {id: acme}\nrules:\n  - {id: bash, kind: software, match: {name: bash}, owner: data}\n")
	withInstalls := []byte(`owners:
  - {id: data, users: [alice]}
  - {id: acme}
rules:
  - {id: by-installer, kind: software, match: {source: deb}, inherit: true}
  - {id: acme-tree, kind: software, match: {location: "/opt/acme/**"}, owner: acme}
`)
	apply := func(query string, file []byte) ApplyResult {
		t.Helper()
		w := a.do(t, http.MethodPost, "/api/v1/ownership/apply"+query, testAdmin, file, "Content-Type", "application/yaml")
		var res ApplyResult
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &res) != nil {
			t.Fatalf("apply%s: %d %s", query, w.Code, w.Body)
		}
		return res
	}
	why := func(asset string) index.Why {
		t.Helper()
		w := a.do(t, http.MethodGet, "/api/v1/why?asset="+asset, testAdmin, nil)
		var res index.Why
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &res) != nil {
			t.Fatalf("why %s: %d %s", asset, w.Code, w.Body)
		}
		return res
	}
	expect := func(step, asset, owner, typ string) {
		t.Helper()
		if got := why(asset); got.Owner != owner || got.Provenance.Type != typ {
			t.Errorf("%s: %s owned by %q (%s: %s), want %q (%s)", step, asset, got.Owner, got.Provenance.Type, got.Provenance.Detail, owner, typ)
		}
	}
	apply("", plain)
	expect("no rule on installations", "software:deb:jq", "", owners.ByNothing)

	// The dry run reads the installations from the stored records.
	dry := apply("?dry_run=true", withInstalls)
	moved := map[string]string{}
	for _, c := range dry.Diff.Assets {
		moved[c.Asset] = c.After.Owner
	}
	if moved["deb:jq"] != "data" || moved["file:/opt/acme/bin/acmectl"] != "acme" {
		t.Errorf("dry run moves %v, want deb:jq to data and the file to acme", moved)
	}
	apply("", withInstalls)
	expect("inherited from the installer", "software:deb:jq", "data", owners.ByInheritance)
	expect("a tree glob on the location", "software:file:/opt/acme/bin/acmectl", "acme", owners.ByRule)
	if d := why("software:deb:jq").Provenance.Detail; d != "owned by data via rule by-installer: installed by alice, one of its users" {
		t.Errorf("detail %q", d)
	}

	// h1 says no more who installed jq: no installer of it is an owner's user.
	report := func(id string, seq uint64, sw []model.Package) {
		t.Helper()
		st := &protocol.State{Host: model.Host{ID: id, Hostname: "host-" + id}, Software: sw}
		protocol.Normalize(st)
		body, err := protocol.Marshal(&protocol.Report{HostID: id, Seq: seq, Kind: protocol.KindFull, Hash: protocol.Hash(st), State: st})
		if err != nil {
			t.Fatal(err)
		}
		if w := a.do(t, http.MethodPost, protocol.PathReport, creds[id], body, "Content-Encoding", "gzip"); w.Code != http.StatusOK {
			t.Fatalf("report of %s: %d %s", id, w.Code, w.Body)
		}
	}
	report("h1", 2, []model.Package{{Source: "deb", Name: "jq", Version: "1.6"}, tool})
	expect("the installer gone", "software:deb:jq", "", owners.ByNothing)
	report("h2", 2, []model.Package{jq})
	expect("another host's installer", "software:deb:jq", "data", owners.ByInheritance)

	apply("", plain)
	expect("back to a registry without rules on installations", "software:deb:jq", "", owners.ByNothing)
	apply("", withInstalls)
	expect("rules on installations again", "software:deb:jq", "data", owners.ByInheritance)
}
