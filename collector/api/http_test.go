package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/protocol"
)

// httpAPI is a testAPI served over real HTTP on 127.0.0.1.
type httpAPI struct {
	*testAPI
	srv *httptest.Server
}

func serve(tb testing.TB, opts Options) *httpAPI {
	tb.Helper()
	a := newTestAPI(tb, opts)
	srv := httptest.NewServer(a)
	tb.Cleanup(srv.Close)
	return &httpAPI{testAPI: a, srv: srv}
}

// call sends one request to the server; body is sent as JSON unless it is already bytes,
// header holds name, value pairs. It returns the answer with its body read.
func (h *httpAPI) call(tb testing.TB, method, path, token string, body any, header ...string) (*http.Response, []byte) {
	tb.Helper()
	req := newRequest(tb, method, h.srv.URL+path, token, body, header...)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return resp, out
}

// revision is the registry revision an answer gives; the test fails without one.
func revision(tb testing.TB, resp *http.Response) int64 {
	tb.Helper()
	rev, err := strconv.ParseInt(resp.Header.Get(RegistryRevisionHeader), 10, 64)
	if err != nil {
		tb.Fatalf("%s %s: %d without a registry revision: %v", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, err)
	}
	return rev
}

// TestEveryAdminRouteScoped goes through every admin route: without a token, and with an
// agent's credential, each answers 401 with a challenge; the read-only token may GET (but
// not take a snapshot) and is refused every write with 403, which changes nothing.
func TestEveryAdminRouteScoped(t *testing.T) {
	a := serve(t, Options{ReadToken: testRead})
	cred := a.enroll(t, "h1")
	checked := 0
	for _, route := range Routes() {
		method, path, _ := strings.Cut(route, " ")
		if !strings.HasPrefix(path, "/api/v1/") || path == protocol.PathEnroll || path == protocol.PathReport {
			continue
		}
		checked++
		path = strings.ReplaceAll(path, "{id}", "h1")
		for _, token := range []string{"", cred} {
			resp, body := a.call(t, method, path, token, nil)
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s with %q: %d (challenge %q) %s, want 401 with a challenge", route, token, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
			}
		}
		resp, body := a.call(t, method, path, testRead, nil)
		switch readable := method == http.MethodGet && path != PathSnapshot; {
		case readable && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden):
			t.Errorf("%s with the read-only token: %d %s", route, resp.StatusCode, body)
		case !readable && resp.StatusCode != http.StatusForbidden:
			t.Errorf("%s with the read-only token: %d %s, want 403", route, resp.StatusCode, body)
		}
	}
	if checked < 20 {
		t.Fatalf("only %d admin routes checked", checked)
	}
	if resp, body := a.call(t, http.MethodGet, "/api/v1/hosts/h1", testRead, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("h1 after the refused writes: %d %s", resp.StatusCode, body)
	}
}

// TestMetricsAuthModes reads /metrics with each kind of token under each MetricsAuth mode.
func TestMetricsAuthModes(t *testing.T) {
	base := newTestAPI(t, Options{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "apitest_up", Help: "Served by the test."}))
	for _, c := range []struct {
		mode  string
		token string
		want  int
	}{
		{MetricsAuthNone, "", http.StatusOK},
		{MetricsAuthNone, "wrong", http.StatusOK},
		{"", "", http.StatusOK},
		{MetricsAuthReadToken, "", http.StatusUnauthorized},
		{MetricsAuthReadToken, "wrong", http.StatusUnauthorized},
		{MetricsAuthReadToken, testRead, http.StatusOK},
		{MetricsAuthReadToken, testAdmin, http.StatusOK},
	} {
		api, err := New(Options{Ingest: base.ing, Index: base.ix, Ownership: base.opts.Ownership, AdminToken: testAdmin, ReadToken: testRead,
			MetricsAuth: c.mode, Gatherer: reg})
		if err != nil {
			t.Fatal(err)
		}
		h := &httpAPI{srv: httptest.NewServer(api)}
		resp, body := h.call(t, http.MethodGet, "/metrics", c.token, nil)
		h.srv.Close()
		served := strings.Contains(string(body), "apitest_up 0")
		if resp.StatusCode != c.want || served != (c.want == http.StatusOK) {
			t.Errorf("mode %q, token %q: %d %s, want %d", c.mode, c.token, resp.StatusCode, bytes.TrimSpace(body), c.want)
		}
		if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("mode %q, token %q: 401 without a challenge", c.mode, c.token)
		}
	}
	if _, err := New(Options{Ingest: base.ing, Index: base.ix, Ownership: base.opts.Ownership, MetricsAuth: "everyone"}); err == nil {
		t.Error("an unknown metrics auth mode accepted")
	}
}

// TestRegistryConditionalWrites writes owners, a rule and an assignment, each read back at
// once with the revision the write answered; every kind of item write with a stale
// If-Match answers 412 with the current revision and changes nothing; deleting an owner
// still referred to answers 400 listing each reference; a delete at the current revision
// answers 204 with a newer one.
func TestRegistryConditionalWrites(t *testing.T) {
	a := serve(t, Options{})
	a.enroll(t, "h1")
	put := func(path string, body any, header ...string) (int, int64) {
		t.Helper()
		resp, out := a.call(t, http.MethodPut, path, testAdmin, body, header...)
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT %s: %d %s", path, resp.StatusCode, out)
		}
		rev := revision(t, resp)
		if got, _ := a.call(t, http.MethodGet, "/api/v1/owners", testAdmin, nil); revision(t, got) != rev {
			t.Fatalf("GET /api/v1/owners right after PUT %s: revision %d, want %d", path, revision(t, got), rev)
		}
		return resp.StatusCode, rev
	}
	_, first := put("/api/v1/owners/web", owners.Owner{Name: "Web team"})
	put("/api/v1/owners/web-ops", owners.Owner{Parent: "web"}, "If-Match", strconv.FormatInt(first, 10))
	put("/api/v1/assignments", owners.Assignment{Kind: owners.KindSoftware, Asset: "deb:bash", Owner: "web"})
	code, current := put("/api/v1/rules/web-hosts", owners.Rule{Kind: owners.KindHost, Owner: "web", Match: owners.Selector{Hostname: "host-*"}})
	if code != http.StatusCreated || current <= first {
		t.Fatalf("new rule: %d at revision %d after %d", code, current, first)
	}
	if _, body := a.call(t, http.MethodGet, "/api/v1/why?asset=host:h1", testAdmin, nil); !strings.Contains(string(body), `"owner":"web"`) {
		t.Fatalf("why host:h1 right after the rule: %s", body)
	}

	stale := []string{"If-Match", fmt.Sprintf("%q", strconv.FormatInt(first, 10))}
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPut, "/api/v1/owners/web", owners.Owner{Name: "Stale"}},
		{http.MethodDelete, "/api/v1/owners/web-ops", nil},
		{http.MethodPut, "/api/v1/rules/web-hosts", owners.Rule{Kind: owners.KindHost, Owner: "web", Match: owners.Selector{All: true}}},
		{http.MethodDelete, "/api/v1/rules/web-hosts", nil},
		{http.MethodPut, "/api/v1/assignments", owners.Assignment{Kind: owners.KindHost, Asset: "h1", Owner: "web"}},
		{http.MethodDelete, "/api/v1/assignments?kind=software&asset=deb:bash", nil},
	} {
		resp, body := a.call(t, c.method, c.path, testAdmin, c.body, stale...)
		if resp.StatusCode != http.StatusPreconditionFailed || resp.Header.Get(RegistryRevisionHeader) != strconv.FormatInt(current, 10) {
			t.Errorf("%s %s at a stale revision: %d, revision %q, want 412 and %d: %s", c.method, c.path, resp.StatusCode,
				resp.Header.Get(RegistryRevisionHeader), current, body)
		}
	}
	if resp, _ := a.call(t, http.MethodGet, "/api/v1/rules", testAdmin, nil); revision(t, resp) != current {
		t.Fatalf("a refused write changed the registry: revision %d, want %d", revision(t, resp), current)
	}

	resp, body := a.call(t, http.MethodDelete, "/api/v1/owners/web", testAdmin, nil)
	var le loadErrors
	if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &le) != nil || len(le.Errors) != 3 {
		t.Fatalf("deleting an owner still referred to: %d %s, want 400 listing a rule, an assignment and an owner", resp.StatusCode, body)
	}
	for _, want := range []string{`rule "web-hosts"`, "assignment of software deb:bash", `owner "web-ops"`} {
		if !strings.Contains(strings.Join(le.Errors, "\n"), want) {
			t.Errorf("refusal does not name %s: %q", want, le.Errors)
		}
	}
	resp, body = a.call(t, http.MethodDelete, "/api/v1/rules/web-hosts", testAdmin, nil, "If-Match", `W/"`+strconv.FormatInt(current, 10)+`"`)
	if resp.StatusCode != http.StatusNoContent || revision(t, resp) <= current {
		t.Fatalf("delete at the current revision: %d, revision %q: %s", resp.StatusCode, resp.Header.Get(RegistryRevisionHeader), body)
	}
	if _, body := a.call(t, http.MethodGet, "/api/v1/why?asset=host:h1", testAdmin, nil); strings.Contains(string(body), `"owner":"web"`) {
		t.Fatalf("why host:h1 right after deleting the rule: %s", body)
	}
	if resp, _ := a.call(t, http.MethodDelete, "/api/v1/rules/web-hosts", testAdmin, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("deleting the deleted rule: %d", resp.StatusCode)
	}
}
