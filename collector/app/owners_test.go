package app

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/wait"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// testOwners is a small registry whose coverage of the debian12, rocky9 and arch golden
// inventories is counted by hand in TestOwnership.
const testOwners = `owners:
  - {id: it, name: IT}
  - {id: platform, name: Platform team, parent: it}
  - {id: web, name: Web team}
  - {id: dba, name: Database administrators}
  - {id: old, name: Dissolved team, state: retired}
rules:
  - {id: web-hosts, kind: host, match: {hostname: "web-*"}, owner: web}
  - {id: db-hosts, kind: host, match: {hostname: "db-*"}, owner: dba}
  - {id: nginx, kind: software, match: {name: "nginx*"}, owner: web}
  - {id: postgres, kind: software, match: {name: "postgresql*"}, owner: dba}
  - {id: sudo, kind: software, match: {name: sudo}, owner: old}
  - {id: ssh-port, kind: service, match: {port: tcp/22}, owner: platform}
  - {id: db-host-services, kind: service, match: {hostname: "db-*"}, inherit: true}
`

// do sends a request with a body of the given type and returns the status and the body.
func do(t *testing.T, method, url, ctype, accept string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+admin)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type coverageResp struct {
	RegistryRevision int64             `json:"registry_revision"`
	Coverage         []owners.Coverage `json:"coverage"`
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n%s", name, got)
	}
}

// TestOwnership applies an owners file through the API of one replica and checks coverage,
// provenance and unowned new software on another, with no agent reporting after the apply.
func TestOwnership(t *testing.T) {
	const reader = "test-read-token-0123456789"
	a := start(t, Options{DataDir: t.TempDir(), EtcdClientURL: "http://127.0.0.1:0", ReadToken: reader})
	b := start(t, Options{EtcdEndpoints: []string{endpoint(t, a)}})
	invs := []*model.Inventory{fixture.Golden(t, "debian12"), fixture.Golden(t, "rocky9"), fixture.Golden(t, "arch")}
	deb, rocky, arch := invs[0].Host.ID, invs[1].Host.ID, invs[2].Host.ID
	creds := map[string]string{}
	states := map[string]protocol.State{}
	hashes := map[string]string{}
	for _, inv := range invs {
		creds[inv.Host.ID] = enroll(t, a.url, inv.Host.ID)
		full, st := fullReport(inv, 1)
		report(t, a.url, creds[inv.Host.ID], full)
		states[inv.Host.ID], hashes[inv.Host.ID] = st, full.Hash
	}
	coverage := func(c *running, minRev int64) coverageResp {
		t.Helper()
		var cov coverageResp
		wait.For(t, 10*time.Second, fmt.Sprintf("coverage at registry revision %d", minRev), func() (bool, string) {
			cov = coverageResp{}
			if code := call(t, "GET", c.url+"/api/v1/coverage", admin, nil, false, &cov); code != 200 {
				t.Fatalf("coverage: %d", code)
			}
			return cov.RegistryRevision >= minRev && cov.Coverage[0].Total == len(invs), fmt.Sprintf("%+v", cov)
		})
		return cov
	}
	// Scopes: the read-only token reads and cannot write; an agent's credential does neither.
	for _, tc := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/api/v1/coverage", reader, 200},
		{"GET", "/api/v1/owners", reader, 200},
		{"GET", "/api/v1/hosts", reader, 200},
		{"POST", "/api/v1/ownership/apply?dry_run=true", reader, 403},
		{"DELETE", "/api/v1/hosts/" + arch, reader, 403},
		{"GET", "/api/v1/coverage", creds[deb], 401},
		{"GET", "/api/v1/why?asset=host:" + deb, creds[deb], 401},
		{"POST", "/api/v1/ownership/apply?dry_run=true", creds[deb], 401},
	} {
		if code := call(t, tc.method, a.url+tc.path, tc.token, []byte(testOwners), false, nil); code != tc.want {
			t.Errorf("%s %s with token %.10s…: %d, want %d", tc.method, tc.path, tc.token, code, tc.want)
		}
	}
	cov := coverage(b, 0)
	if cov.Coverage[0].Owned != 0 || cov.Coverage[1].Total != 63 || cov.Coverage[1].Unowned != 63 || cov.Coverage[2].Total != 73 {
		t.Fatalf("coverage without a registry: %+v", cov)
	}

	// A dry run shows the change and writes nothing.
	code, body := do(t, "POST", a.url+"/api/v1/ownership/apply?dry_run=true", "application/yaml", "text/plain", []byte(testOwners))
	if code != 200 {
		t.Fatalf("dry run: %d %s", code, body)
	}
	checkGolden(t, "apply-dry-run.golden", body)
	var reg owners.Registry
	if code := call(t, "GET", a.url+"/api/v1/owners", admin, nil, false, &reg); code != 200 || len(reg.Owners)+len(reg.Rules) != 0 {
		t.Fatalf("registry after a dry run: %d %+v", code, reg)
	}
	code, body = do(t, "POST", a.url+"/api/v1/ownership/apply?dry_run=true", "application/yaml", "", []byte(testOwners))
	var dry struct {
		DryRun bool        `json:"dry_run"`
		Diff   owners.Diff `json:"diff"`
	}
	if err := json.Unmarshal(body, &dry); code != 200 || err != nil || !dry.DryRun || len(dry.Diff.Rules.Added) != 7 {
		t.Fatalf("JSON dry run: %d %v %s", code, err, body)
	}

	// An invalid file: 400 with every error and its line, and nothing changes.
	bad := strings.Replace(testOwners, `match: {name: sudo}`, `match: {nmae: sudo}`, 1) + "  - {id: x, kind: host, match: {all: true}, owner: nobody}\n"
	code, body = do(t, "POST", a.url+"/api/v1/ownership/apply?file=team/owners.yaml", "application/yaml", "", []byte(bad))
	var le struct {
		Error  string   `json:"error"`
		Errors []string `json:"errors"`
	}
	if err := json.Unmarshal(body, &le); code != 400 || err != nil || len(le.Errors) < 2 ||
		!strings.HasPrefix(le.Errors[0], "team/owners.yaml:12:") || !strings.Contains(le.Error, "nmae") ||
		!strings.Contains(le.Error, "team/owners.yaml:15:") || !strings.Contains(le.Error, "nobody") {
		t.Fatalf("invalid file: %d %s", code, body)
	}
	t.Logf("invalid file: %s", le.Error)
	if code := call(t, "GET", a.url+"/api/v1/owners", admin, nil, false, &reg); code != 200 || len(reg.Rules) != 0 {
		t.Fatalf("registry after a refused apply: %+v", reg)
	}

	// Apply on A; B follows through the watch.
	code, body = do(t, "POST", a.url+"/api/v1/ownership/apply", "application/yaml", "", []byte(testOwners))
	var applied struct {
		Revision int64 `json:"revision"`
	}
	if err := json.Unmarshal(body, &applied); code != 200 || err != nil || applied.Revision == 0 {
		t.Fatalf("apply: %d %s", code, body)
	}
	// By hand: hosts web-01 (web) and db-01 (dba) of 3; software 4 nginx titles (deb:nginx,
	// deb:nginx-common, rpm:nginx, pacman:nginx) + 6 postgresql ones owned, 3 sudo titles
	// orphaned, of 63; services: tcp/22 on web-01 (platform) and all 31 instances on db-01
	// (its services inherit dba, tcp/22 is platform's), of 42 + 31 + 0.
	want := []owners.Coverage{
		{Kind: owners.KindHost, Total: 3, Owned: 2, Unowned: 1, Ratio: 2.0 / 3},
		{Kind: owners.KindSoftware, Total: 63, Owned: 10, Unowned: 53, Orphaned: 3, Ratio: 10.0 / 63},
		{Kind: owners.KindService, Total: 73, Owned: 32, Unowned: 41, Ratio: 32.0 / 73},
	}
	for _, c := range []*running{a, b} {
		if got := coverage(c, applied.Revision).Coverage; !slices.Equal(got, want) {
			t.Fatalf("coverage on %s:\n got %+v\nwant %+v", c.url, got, want)
		}
	}

	// Why, on B.
	for _, tc := range []struct{ asset, owner, typ, rule string }{
		{"software:deb:nginx", "web", owners.ByRule, "nginx"},
		{"software:rpm:sudo", "old", owners.ByRule, "sudo"},
		{"host:" + rocky, "dba", owners.ByRule, "db-hosts"},
		{"host:" + arch, "", owners.ByNothing, ""},
		{"service:" + rocky + "/systemd:postgresql.service", "dba", owners.ByInheritance, "db-host-services"},
		{"service:" + rocky + "/port:tcp/22", "platform", owners.ByRule, "ssh-port"},
		{"service:" + deb + "/systemd:nginx.service", "", owners.ByNothing, ""},
	} {
		var w struct {
			owners.Resolution
			Department string `json:"department"`
		}
		if code := call(t, "GET", b.url+"/api/v1/why?asset="+tc.asset, admin, nil, false, &w); code != 200 {
			t.Fatalf("why %s: %d", tc.asset, code)
		}
		if w.Owner != tc.owner || w.Provenance.Type != tc.typ || w.Provenance.RuleID != tc.rule || w.Provenance.Detail == "" {
			t.Errorf("why %s: %+v", tc.asset, w)
		}
		if tc.owner == "platform" && w.Department != "it" {
			t.Errorf("why %s: department %q, want it", tc.asset, w.Department)
		}
	}
	for asset, want := range map[string]int{"nonsense": 400, "host:nope": 404, "service:" + deb + "/systemd:nope.service": 404, "software:deb": 400} {
		if code := call(t, "GET", b.url+"/api/v1/why?asset="+asset, admin, nil, false, nil); code != want {
			t.Errorf("why %s: %d, want %d", asset, code, want)
		}
	}

	// The lists carry owners.
	var hosts struct {
		Items []struct {
			ID string `json:"id"`
			owners.Resolution
		} `json:"items"`
	}
	call(t, "GET", b.url+"/api/v1/hosts?unowned=true", admin, nil, false, &hosts)
	if len(hosts.Items) != 1 || hosts.Items[0].ID != arch || hosts.Items[0].Provenance.Type != owners.ByNothing {
		t.Fatalf("unowned hosts: %+v", hosts.Items)
	}
	var sw struct {
		Items []struct {
			Title string `json:"title"`
			owners.Resolution
		} `json:"items"`
	}
	call(t, "GET", b.url+"/api/v1/software?orphaned=true", admin, nil, false, &sw)
	if len(sw.Items) != 3 || sw.Items[0].Title != "deb:sudo" || sw.Items[0].Owner != "old" || !sw.Items[0].Orphaned {
		t.Fatalf("orphaned software: %+v", sw.Items)
	}

	// A rule changed on A: the sudo titles go to platform; B's coverage follows with no report.
	code, body = do(t, "POST", a.url+"/api/v1/ownership/apply", "application/yaml", "", []byte(strings.Replace(testOwners, "owner: old", "owner: platform", 1)))
	if err := json.Unmarshal(body, &applied); code != 200 || err != nil {
		t.Fatalf("second apply: %d %s", code, body)
	}
	got := coverage(b, applied.Revision).Coverage[1]
	if got.Owned != 13 || got.Orphaned != 0 || got.Unowned != 50 {
		t.Fatalf("software coverage on B after the rule change: %+v", got)
	}

	// Unowned new software: a title installed on an enrolled host, which no rule owns, is
	// listed; an owned one is not; a title present in a first report is not.
	installedAt := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	next := states[deb]
	next.Software = append(slices.Clone(next.Software),
		model.Package{Source: "deb", Name: "shadow-tool", Version: "1.0-1", Arch: "amd64", InstallTime: installedAt},
		model.Package{Source: "deb", Name: "nginx-extras", Version: "1.0-1", Arch: "amd64", InstallTime: installedAt})
	protocol.Normalize(&next)
	st := states[deb]
	dr := &protocol.Report{HostID: deb, Seq: 2, Kind: protocol.KindDelta, SentAt: time.Now().UTC(), BaseHash: hashes[deb],
		Hash: protocol.Hash(&next), Delta: protocol.Diff(&st, &next), Events: protocol.Events(&st, &next, installedAt)}
	report(t, b.url, creds[deb], dr)
	var unowned struct {
		Items []struct {
			Title          string    `json:"title"`
			Hosts          int       `json:"hosts"`
			InstalledHosts int       `json:"installed_hosts"`
			FirstSeen      time.Time `json:"first_seen"`
			owners.Resolution
			InstallingHosts          []string `json:"installing_hosts"`
			InstallingHostsTruncated bool     `json:"installing_hosts_truncated"`
		} `json:"items"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		call(t, "GET", a.url+"/api/v1/software?unowned_new=true", admin, nil, false, &unowned)
		if len(unowned.Items) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(unowned.Items) != 1 || unowned.Items[0].Title != "deb:shadow-tool" || unowned.Items[0].InstalledHosts != 1 ||
		unowned.Items[0].Hosts != 1 || unowned.Items[0].FirstSeen.IsZero() || unowned.Items[0].Provenance.Type != owners.ByNothing {
		t.Fatalf("unowned new software: %+v", unowned.Items)
	}
	if got := unowned.Items[0].InstallingHosts; !slices.Equal(got, []string{deb}) || unowned.Items[0].InstallingHostsTruncated {
		t.Fatalf("installing hosts of deb:shadow-tool: %q (truncated %v), want [%s]", got, unowned.Items[0].InstallingHostsTruncated, deb)
	}
	// The replica that did not take the report knows the installing host too.
	var onB struct {
		Items []struct {
			Title           string   `json:"title"`
			InstallingHosts []string `json:"installing_hosts"`
		} `json:"items"`
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		call(t, "GET", b.url+"/api/v1/software?unowned_new=true", admin, nil, false, &onB)
		if len(onB.Items) == 1 && slices.Equal(onB.Items[0].InstallingHosts, []string{deb}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("unowned new software on B: %+v", onB.Items)
		}
	}
	// Lists other than unowned_new do not carry installing hosts.
	var plain struct {
		Items []map[string]any `json:"items"`
	}
	call(t, "GET", a.url+"/api/v1/software?name=shadow-tool", admin, nil, false, &plain)
	if len(plain.Items) != 1 || plain.Items[0]["installing_hosts"] != nil {
		t.Fatalf("software list: %+v", plain.Items)
	}
	call(t, "GET", a.url+"/api/v1/software?unowned_new=true&window=30m", admin, nil, false, &unowned)
	if len(unowned.Items) != 0 {
		t.Fatalf("unowned new software within 30m: %+v", unowned.Items)
	}
	if code := call(t, "GET", a.url+"/api/v1/software?unowned_new=true&window=soon", admin, nil, false, nil); code != 400 {
		t.Fatalf("bad window: %d", code)
	}
}
