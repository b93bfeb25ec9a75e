package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/collector/api"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/wait"
)

// send sends a JSON request with a token and an optional If-Match, and returns the status,
// the Onus-Registry-Revision header and the body.
func send(t *testing.T, method, url, token, ifMatch string, body any) (int, int64, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	rev, _ := strconv.ParseInt(resp.Header.Get(api.RegistryRevisionHeader), 10, 64)
	return resp.StatusCode, rev, b
}

// TestRegistryItems changes single owners, rules and assignments through the API of one
// replica and checks that the other resolves with them, with no agent reporting.
func TestRegistryItems(t *testing.T) {
	const reader = "test-read-token-0123456789"
	a := start(t, Options{DataDir: t.TempDir(), EtcdClientURL: "http://127.0.0.1:0", ReadToken: reader})
	b := start(t, Options{EtcdEndpoints: []string{endpoint(t, a)}})
	invs := []*model.Inventory{fixture.Golden(t, "debian12"), fixture.Golden(t, "rocky9"), fixture.Golden(t, "arch")}
	deb, arch := invs[0].Host.ID, invs[2].Host.ID
	var cred string
	for _, inv := range invs {
		c := enroll(t, a.url, inv.Host.ID)
		if inv.Host.ID == deb {
			cred = c
		}
		full, _ := fullReport(inv, 1)
		report(t, a.url, c, full)
	}
	if code, body := do(t, "POST", a.url+"/api/v1/ownership/apply", "application/yaml", "", []byte(testOwners)); code != 200 {
		t.Fatalf("apply: %d %s", code, body)
	}
	// coverage waits until c resolves with registry revision minRev and every host.
	coverage := func(c *running, minRev int64) []owners.Coverage {
		t.Helper()
		var cov coverageResp
		wait.For(t, 10*time.Second, fmt.Sprintf("coverage on %s at registry revision %d", c.url, minRev), func() (bool, string) {
			cov = coverageResp{}
			if code := call(t, "GET", c.url+"/api/v1/coverage", admin, nil, false, &cov); code != 200 {
				t.Fatalf("coverage: %d", code)
			}
			return cov.RegistryRevision >= minRev && cov.Coverage[0].Total == len(invs), fmt.Sprintf("%+v", cov)
		})
		return cov.Coverage
	}
	why := func(c *running, asset string) owners.Resolution {
		t.Helper()
		var res owners.Resolution
		if code := call(t, "GET", c.url+"/api/v1/why?asset="+url.QueryEscape(asset), admin, nil, false, &res); code != 200 {
			t.Fatalf("why %s: %d", asset, code)
		}
		return res
	}
	rules := func(c *running) ([]string, int64) {
		t.Helper()
		code, rev, body := send(t, "GET", c.url+"/api/v1/rules", admin, "", nil)
		var list struct {
			Items []owners.Rule `json:"items"`
		}
		if err := json.Unmarshal(body, &list); code != 200 || err != nil || rev == 0 {
			t.Fatalf("rules: %d %v %s", code, err, body)
		}
		var ids []string
		for _, r := range list.Items {
			ids = append(ids, r.ID)
		}
		return ids, rev
	}
	order, rev := rules(a)
	if sw := coverage(b, rev)[1]; sw.Owned != 10 || sw.Orphaned != 3 {
		t.Fatalf("software coverage on B after the apply: %+v", sw)
	}

	// Scopes: the read-only token reads and cannot write; an agent's credential does neither.
	sudo := owners.Rule{Kind: owners.KindSoftware, Match: owners.Selector{Name: "sudo"}, Owner: "platform"}
	for _, tc := range []struct {
		method, path, token string
		body                any
		want                int
	}{
		{"GET", "/api/v1/rules", reader, nil, 200},
		{"GET", "/api/v1/assignments", reader, nil, 200},
		{"PUT", "/api/v1/rules/sudo", reader, sudo, 403},
		{"DELETE", "/api/v1/rules/sudo", reader, nil, 403},
		{"PUT", "/api/v1/owners/sec", reader, owners.Owner{Name: "Security"}, 403},
		{"DELETE", "/api/v1/owners/old", reader, nil, 403},
		{"PUT", "/api/v1/assignments", reader, owners.Assignment{Kind: owners.KindHost, Asset: arch, Owner: "web"}, 403},
		{"DELETE", "/api/v1/assignments?kind=host&asset=" + arch, reader, nil, 403},
		{"GET", "/api/v1/rules", cred, nil, 401},
		{"PUT", "/api/v1/rules/sudo", cred, sudo, 401},
		{"DELETE", "/api/v1/owners/old", cred, nil, 401},
		{"PUT", "/api/v1/assignments", cred, owners.Assignment{Kind: owners.KindHost, Asset: arch, Owner: "web"}, 401},
	} {
		if code, _, body := send(t, tc.method, a.url+tc.path, tc.token, "", tc.body); code != tc.want {
			t.Errorf("%s %s with token %.10s…: %d, want %d: %s", tc.method, tc.path, tc.token, code, tc.want, body)
		}
	}
	if _, now := rules(a); now != rev {
		t.Fatalf("refused writes changed the registry: revision %d, was %d", now, rev)
	}

	// PUT an existing rule with If-Match: it keeps its place; B re-resolves, and why says so.
	code, newRev, body := send(t, "PUT", a.url+"/api/v1/rules/sudo", admin, `"`+strconv.FormatInt(rev, 10)+`"`, sudo)
	if code != 200 || newRev <= rev {
		t.Fatalf("PUT rule sudo: %d revision %d: %s", code, newRev, body)
	}
	if got, _ := rules(a); !slices.Equal(got, order) {
		t.Fatalf("rule order after replacing sudo: %q, want %q", got, order)
	}
	if sw := coverage(b, newRev)[1]; sw.Owned != 13 || sw.Orphaned != 0 || sw.Unowned != 50 {
		t.Fatalf("software coverage on B after PUT rule sudo: %+v", sw)
	}
	if res := why(b, "software:deb:sudo"); res.Owner != "platform" || res.Provenance.Type != owners.ByRule || res.Provenance.RuleID != "sudo" {
		t.Fatalf("why software:deb:sudo on B: %+v", res)
	}

	// A stale If-Match is refused with 412 and changes nothing.
	stale := owners.Rule{Kind: owners.KindSoftware, Match: owners.Selector{Name: "sudo"}, Owner: "old"}
	if code, cur, body := send(t, "PUT", a.url+"/api/v1/rules/sudo", admin, strconv.FormatInt(rev, 10), stale); code != 412 || cur != newRev {
		t.Fatalf("PUT with a stale If-Match: %d (revision header %d, want %d): %s", code, cur, newRev, body)
	}
	if code, _, body := send(t, "DELETE", a.url+"/api/v1/rules/sudo", admin, strconv.FormatInt(rev, 10), nil); code != 412 {
		t.Fatalf("DELETE with a stale If-Match: %d %s", code, body)
	}
	if code, _, _ := send(t, "PUT", a.url+"/api/v1/rules/sudo", admin, "soon", stale); code != 400 {
		t.Fatalf("PUT with a malformed If-Match: %d", code)
	}

	// A new rule goes last, on B too.
	code, rev, body = send(t, "PUT", a.url+"/api/v1/rules/shadow", admin, "",
		owners.Rule{Kind: owners.KindSoftware, Match: owners.Selector{Name: "bash"}, Owner: "web"})
	if code != 201 {
		t.Fatalf("PUT new rule: %d %s", code, body)
	}
	coverage(b, rev)
	if got, _ := rules(b); !slices.Equal(got, append(slices.Clone(order), "shadow")) {
		t.Fatalf("rules on B after adding shadow: %q", got)
	}
	if res := why(b, "software:deb:bash"); res.Owner != "web" || res.Provenance.RuleID != "shadow" {
		t.Fatalf("why software:deb:bash on B: %+v", res)
	}

	// Invalid changes: 400 with every problem, nothing written.
	var le struct {
		Error  string   `json:"error"`
		Errors []string `json:"errors"`
	}
	code, _, body = send(t, "DELETE", a.url+"/api/v1/owners/dba", admin, "", nil)
	if err := json.Unmarshal(body, &le); code != 400 || err != nil || !strings.Contains(le.Error, `owner "dba" is still referenced`) ||
		!slices.ContainsFunc(le.Errors, func(e string) bool { return strings.Contains(e, `rule "postgres"`) }) ||
		!slices.ContainsFunc(le.Errors, func(e string) bool { return strings.Contains(e, `rule "db-hosts"`) }) {
		t.Fatalf("DELETE a referenced owner: %d %s", code, body)
	}
	code, _, body = send(t, "PUT", a.url+"/api/v1/rules/bad", admin, "",
		owners.Rule{Kind: owners.KindSoftware, Match: owners.Selector{Name: "vim"}, Owner: "nobody"})
	if err := json.Unmarshal(body, &le); code != 400 || err != nil || len(le.Errors) == 0 || !strings.Contains(le.Error, "nobody") {
		t.Fatalf("PUT a rule of an undefined owner: %d %s", code, body)
	}
	if code, _, body := send(t, "PUT", a.url+"/api/v1/rules/x", admin, "", map[string]any{"kind": "host", "mtach": map[string]any{}}); code != 400 {
		t.Fatalf("PUT a rule with an unknown field: %d %s", code, body)
	}
	if code, _, body := send(t, "PUT", a.url+"/api/v1/rules/x", admin, "", owners.Rule{ID: "y", Kind: owners.KindHost, Match: owners.Selector{All: true}, Owner: "it"}); code != 400 {
		t.Fatalf("PUT a rule whose body names another id: %d %s", code, body)
	}
	if _, now := rules(a); now != rev {
		t.Fatalf("refused writes changed the registry: revision %d, was %d", now, rev)
	}

	// Unknown ids: 404.
	for _, path := range []string{"/api/v1/owners/nope", "/api/v1/rules/nope", "/api/v1/assignments?kind=host&asset=nope"} {
		if code, _, body := send(t, "DELETE", a.url+path, admin, "", nil); code != 404 {
			t.Errorf("DELETE %s: %d %s", path, code, body)
		}
	}

	// Owners: create, replace, delete.
	if code, _, body := send(t, "PUT", a.url+"/api/v1/owners/sec", admin, "", owners.Owner{Name: "Security", Parent: "it"}); code != 201 {
		t.Fatalf("PUT new owner: %d %s", code, body)
	}
	code, _, body = send(t, "PUT", a.url+"/api/v1/owners/sec", admin, "", owners.Owner{ID: "sec", Name: "Security team", Parent: "it"})
	var o owners.Owner
	if err := json.Unmarshal(body, &o); code != 200 || err != nil || o.Name != "Security team" || o.State != owners.StateActive {
		t.Fatalf("PUT owner again: %d %s", code, body)
	}
	if code, _, body := send(t, "DELETE", a.url+"/api/v1/owners/sec", admin, "", nil); code != 204 {
		t.Fatalf("DELETE owner: %d %s", code, body)
	}

	// Assignments: the arch host, unowned by the rules, goes to web on B; then back.
	asg := owners.Assignment{Kind: owners.KindHost, Asset: arch, Owner: "web"}
	if code, rev, body = send(t, "PUT", a.url+"/api/v1/assignments", admin, "", asg); code != 201 {
		t.Fatalf("PUT assignment: %d %s", code, body)
	}
	if hc := coverage(b, rev)[0]; hc.Owned != 3 {
		t.Fatalf("host coverage on B after assigning %s: %+v", arch, hc)
	}
	if res := why(b, "host:"+arch); res.Owner != "web" || res.Provenance.Type != owners.ByAssignment {
		t.Fatalf("why host:%s on B: %+v", arch, res)
	}
	asg.Owner = "it"
	if code, _, body := send(t, "PUT", a.url+"/api/v1/assignments", admin, "", asg); code != 200 {
		t.Fatalf("PUT assignment again: %d %s", code, body)
	}
	var list struct {
		Items []owners.Assignment `json:"items"`
	}
	if code := call(t, "GET", a.url+"/api/v1/assignments", admin, nil, false, &list); code != 200 || !slices.Equal(list.Items, []owners.Assignment{asg}) {
		t.Fatalf("assignments: %d %+v", code, list.Items)
	}
	if code, rev, body = send(t, "DELETE", a.url+"/api/v1/assignments?kind=host&asset="+arch, admin, "", nil); code != 204 {
		t.Fatalf("DELETE assignment: %d %s", code, body)
	}
	if hc := coverage(b, rev)[0]; hc.Owned != 2 {
		t.Fatalf("host coverage on B after removing the assignment: %+v", hc)
	}

	// Deleting a rule: the shadow rule goes, bash is unowned again on B.
	if code, rev, body = send(t, "DELETE", a.url+"/api/v1/rules/shadow", admin, "", nil); code != 204 {
		t.Fatalf("DELETE rule: %d %s", code, body)
	}
	coverage(b, rev)
	if res := why(b, "software:deb:bash"); res.Owner != "" || res.Provenance.Type != owners.ByNothing {
		t.Fatalf("why software:deb:bash on B after deleting its rule: %+v", res)
	}
}
