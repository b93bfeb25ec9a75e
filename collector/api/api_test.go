package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/protocol"
)

// TestTokens checks who may do what: no token 401 (with a WWW-Authenticate challenge), the
// read-only token reads but is refused writes and snapshots (403), the admin token does both;
// /metrics is open, or asks for a token when MetricsAuth says so.
func TestTokens(t *testing.T) {
	a := newTestAPI(t, Options{ReadToken: testRead, MetricsAuth: MetricsAuthReadToken})
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{http.MethodGet, "/api/v1/hosts", "", http.StatusUnauthorized},
		{http.MethodGet, "/api/v1/hosts", "wrong", http.StatusUnauthorized},
		{http.MethodGet, "/api/v1/hosts", testRead, http.StatusOK},
		{http.MethodGet, "/api/v1/hosts", testAdmin, http.StatusOK},
		{http.MethodDelete, "/api/v1/hosts/h9", testRead, http.StatusForbidden},
		{http.MethodDelete, "/api/v1/hosts/h9", testAdmin, http.StatusNotFound},
		{http.MethodGet, PathSnapshot, testRead, http.StatusForbidden},
		{http.MethodGet, "/metrics", "", http.StatusUnauthorized},
		{http.MethodGet, "/metrics", testRead, http.StatusOK},
		{http.MethodGet, "/healthz", "", http.StatusOK},
		{http.MethodGet, "/api/v1/nothing", testAdmin, http.StatusNotFound},
	} {
		w := a.do(t, c.method, c.path, c.token, nil)
		if w.Code != c.want {
			t.Errorf("%s %s with %q: %d %s, want %d", c.method, c.path, c.token, w.Code, strings.TrimSpace(w.Body.String()), c.want)
		}
		if w.Code == http.StatusUnauthorized && strings.HasPrefix(c.path, "/api/") && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without a WWW-Authenticate challenge", c.method, c.path)
		}
	}
	if _, err := New(Options{Ingest: a.ing, Index: a.ix, Ownership: a.opts.Ownership, MetricsAuth: MetricsAuthReadToken}); err == nil {
		t.Error("metrics auth read-token without a read token accepted")
	}
}

// TestRegistryItems edits the registry item by item: a create, If-Match with the revision
// it answered, a stale If-Match (412 with the current revision), an edit that would leave
// the registry invalid (400 listing the problem), and a malformed If-Match.
func TestRegistryItems(t *testing.T) {
	a := newTestAPI(t, Options{})
	w := a.do(t, http.MethodPut, "/api/v1/owners/web", testAdmin, owners.Owner{Name: "Web team"})
	if w.Code != http.StatusCreated {
		t.Fatalf("create owner: %d %s", w.Code, w.Body)
	}
	rev := w.Header().Get(RegistryRevisionHeader)
	if n, err := strconv.ParseInt(rev, 10, 64); err != nil || n <= 0 {
		t.Fatalf("revision header %q", rev)
	}
	w = a.do(t, http.MethodPut, "/api/v1/owners/web", testAdmin, owners.Owner{Name: "Web"}, "If-Match", `"`+rev+`"`)
	if w.Code != http.StatusOK {
		t.Fatalf("update at the revision read: %d %s", w.Code, w.Body)
	}
	current := w.Header().Get(RegistryRevisionHeader)
	w = a.do(t, http.MethodPut, "/api/v1/owners/web", testAdmin, owners.Owner{Name: "Stale"}, "If-Match", `"`+rev+`"`)
	if w.Code != http.StatusPreconditionFailed || w.Header().Get(RegistryRevisionHeader) != current {
		t.Fatalf("stale If-Match: %d, revision %q (want 412 and %s): %s", w.Code, w.Header().Get(RegistryRevisionHeader), current, w.Body)
	}
	w = a.do(t, http.MethodPut, "/api/v1/rules/orphan", testAdmin, owners.Rule{Kind: owners.KindHost, Owner: "nobody", Match: owners.Selector{Hostname: "*"}})
	var le loadErrors
	if w.Code != http.StatusBadRequest || json.Unmarshal(w.Body.Bytes(), &le) != nil || len(le.Errors) == 0 || !strings.Contains(strings.Join(le.Errors, " "), "nobody") {
		t.Fatalf("rule naming an unknown owner: %d %s", w.Code, w.Body)
	}
	if w = a.do(t, http.MethodPut, "/api/v1/owners/web", testAdmin, owners.Owner{}, "If-Match", "yesterday"); w.Code != http.StatusBadRequest {
		t.Fatalf("malformed If-Match: %d", w.Code)
	}
	w = a.do(t, http.MethodGet, "/api/v1/owners", testAdmin, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"Web"`) || strings.Contains(w.Body.String(), "Stale") {
		t.Fatalf("owners after the edits: %s", w.Body)
	}
}

// TestApplyOwners applies an owners file as a dry run (nothing written, a diff), then for
// real, and refuses a file that does not load, listing its problems.
func TestApplyOwners(t *testing.T) {
	a := newTestAPI(t, Options{})
	a.enroll(t, "h1")
	file := []byte("owners:\n  - {id: ops}\nrules:\n  - {id: all, kind: host, match: {hostname: \"host-*\"}, owner: ops}\n")
	apply := func(query string, body []byte) (int, ApplyResult) {
		w := a.do(t, http.MethodPost, "/api/v1/ownership/apply"+query, testAdmin, body, "Content-Type", "application/yaml")
		var res ApplyResult
		_ = json.Unmarshal(w.Body.Bytes(), &res)
		return w.Code, res
	}
	code, res := apply("?dry_run=true", file)
	if code != http.StatusOK || !res.DryRun || res.Revision != 0 || res.Diff == nil {
		t.Fatalf("dry run: %d %+v", code, res)
	}
	if reg, rev := a.ix.Registry(); rev != 0 || len(reg.Owners) != 0 {
		t.Fatalf("a dry run wrote the registry (revision %d)", rev)
	}
	if code, res = apply("", file); code != http.StatusOK || res.Revision == 0 {
		t.Fatalf("apply: %d %+v", code, res)
	}
	w := a.do(t, http.MethodGet, "/api/v1/why?asset=host:h1", testAdmin, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"owner":"ops"`) {
		t.Fatalf("why host:h1 right after the apply: %d %s", w.Code, w.Body)
	}
	w = a.do(t, http.MethodPost, "/api/v1/ownership/apply", testAdmin, []byte("owners: [{id: }]\nrules: 7\n"), "Content-Type", "application/yaml")
	var le loadErrors
	if w.Code != http.StatusBadRequest || json.Unmarshal(w.Body.Bytes(), &le) != nil || le.Error == "" {
		t.Fatalf("a file that does not load: %d %s", w.Code, w.Body)
	}
}

// TestDeleteHostReadYourWrites deletes a host and reads the host list at once: the read
// waits for the index to reach the deletion, so the host is gone from it; its credential
// stops working.
func TestDeleteHostReadYourWrites(t *testing.T) {
	a := newTestAPI(t, Options{})
	cred := a.enroll(t, "h1")
	a.enroll(t, "h2")
	if w := a.do(t, http.MethodDelete, "/api/v1/hosts/h1", testAdmin, nil); w.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	w := a.do(t, http.MethodGet, "/api/v1/hosts", testAdmin, nil)
	if w.Code != http.StatusOK || strings.Contains(w.Body.String(), `"id":"h1"`) || !strings.Contains(w.Body.String(), `"id":"h2"`) {
		t.Fatalf("hosts right after the deletion: %s", w.Body)
	}
	if w := a.do(t, http.MethodGet, "/api/v1/hosts/h1", testAdmin, nil); w.Code != http.StatusNotFound {
		t.Fatalf("the deleted host: %d", w.Code)
	}
	body, _ := protocol.Marshal(&protocol.Report{HostID: "h1", Seq: 2, Kind: protocol.KindHeartbeat, BaseHash: "x", Hash: "x"})
	if w := a.do(t, http.MethodPost, protocol.PathReport, cred, body, "Content-Encoding", "gzip"); w.Code != http.StatusUnauthorized {
		t.Fatalf("report with the deleted host's credential: %d %s", w.Code, w.Body)
	}
}

// TestReportRefusals sends reports the API must refuse: another host's ID (403), a body
// over the compressed limit (413), a body that is not gzip (400), an unknown encoding (415).
func TestReportRefusals(t *testing.T) {
	a := newTestAPI(t, Options{Limits: protocol.Limits{Compressed: 64 << 10, Decompressed: 1 << 20}, MaxReportMemory: 8 << 20})
	cred := a.enroll(t, "h1")
	a.enroll(t, "h2")
	other, _ := protocol.Marshal(&protocol.Report{HostID: "h2", Seq: 5, Kind: protocol.KindHeartbeat, BaseHash: "x", Hash: "x"})
	for _, c := range []struct {
		name     string
		body     []byte
		encoding string
		want     int
	}{
		{"another host", other, "gzip", http.StatusForbidden},
		{"over the limit", bytes.Repeat([]byte{'x'}, 70<<10), "gzip", http.StatusRequestEntityTooLarge},
		{"not gzip", []byte("plain text"), "gzip", http.StatusBadRequest},
		{"unknown encoding", []byte("{}"), "br", http.StatusUnsupportedMediaType},
	} {
		w := a.do(t, http.MethodPost, protocol.PathReport, cred, c.body, "Content-Encoding", c.encoding)
		if w.Code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, w.Code, strings.TrimSpace(w.Body.String()), c.want)
		}
	}
}
