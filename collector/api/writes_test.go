package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/collector/ownership"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/protocol"
)

// TestBodyLimits sends bodies at and over each endpoint's limit over HTTP: over it, 413;
// at it, the body is read and judged on what it says.
func TestBodyLimits(t *testing.T) {
	const compressed = 64 << 10
	a := serve(t, Options{Limits: protocol.Limits{Compressed: compressed, Decompressed: 1 << 20}, MaxReportMemory: 8 << 20})
	cred := a.enroll(t, "h1")
	// ownerOf is an owner whose JSON is n bytes long.
	ownerOf := func(n int) []byte {
		b := []byte(`{"name":"` + strings.Repeat("n", n-11) + `"}`)
		if len(b) != n {
			t.Fatalf("owner body of %d bytes, want %d", len(b), n)
		}
		return b
	}
	// fileOf is an owners file of n bytes: a comment after one owner.
	fileOf := func(n int) []byte {
		head := "owners:\n  - {id: big}\n#"
		return []byte(head + strings.Repeat("x", n-len(head)))
	}
	bigEnrollment, err := protocol.Marshal(protocol.EnrollRequest{EnrollSecret: testSecret, HostID: "h2", Hostname: strings.Repeat("h", protocol.MaxEnrollBytes)})
	if err != nil || len(bigEnrollment) > protocol.MaxEnrollBytes/8 {
		t.Fatalf("compressed enrollment of %d bytes: %v", len(bigEnrollment), err)
	}
	yaml := []string{"Content-Type", "application/yaml"}
	gzip := []string{"Content-Encoding", "gzip"}
	for _, c := range []struct {
		name, method, path, token string
		body                      []byte
		header                    []string
		want                      int
	}{
		{"owner at the limit", http.MethodPut, "/api/v1/owners/big", testAdmin, ownerOf(maxItemSize), nil, http.StatusCreated},
		{"owner over the limit", http.MethodPut, "/api/v1/owners/big", testAdmin, ownerOf(maxItemSize + 1), nil, http.StatusRequestEntityTooLarge},
		{"rule over the limit", http.MethodPut, "/api/v1/rules/big", testAdmin, bytes.Repeat([]byte{' '}, 2*maxItemSize), nil, http.StatusRequestEntityTooLarge},
		{"owners file at the limit", http.MethodPost, "/api/v1/ownership/apply?dry_run=true", testAdmin, fileOf(owners.MaxSize), yaml, http.StatusOK},
		{"owners file just over the limit", http.MethodPost, "/api/v1/ownership/apply?dry_run=true", testAdmin, fileOf(owners.MaxSize + 1), yaml, http.StatusRequestEntityTooLarge},
		{"owners file far over the limit", http.MethodPost, "/api/v1/ownership/apply?dry_run=true", testAdmin, fileOf(owners.MaxSize + 4096), yaml, http.StatusRequestEntityTooLarge},
		{"enrollment over the limit", http.MethodPost, protocol.PathEnroll, "", bytes.Repeat([]byte{'x'}, protocol.MaxEnrollBytes+1), nil, http.StatusRequestEntityTooLarge},
		{"enrollment over the limit once decompressed", http.MethodPost, protocol.PathEnroll, "", bigEnrollment, gzip, http.StatusRequestEntityTooLarge},
		{"report over the limit", http.MethodPost, protocol.PathReport, cred, bytes.Repeat([]byte{'x'}, compressed+1), gzip, http.StatusRequestEntityTooLarge},
	} {
		resp, body := a.call(t, c.method, c.path, c.token, c.body, c.header...)
		if resp.StatusCode != c.want {
			t.Errorf("%s (%d bytes): %d %.200s, want %d", c.name, len(c.body), resp.StatusCode, body, c.want)
		}
	}
}

// TestApplyAnswers applies an owners file in JSON as a dry run, then for real, asking for
// text: the dry run writes nothing (the registry revision stays), the apply answers the
// revision it wrote, which a read at once reflects; an unknown media type is refused.
func TestApplyAnswers(t *testing.T) {
	a := serve(t, Options{})
	a.enroll(t, "h1")
	file, err := json.Marshal(owners.Registry{Owners: []owners.Owner{{ID: "ops", Name: "Operations"}},
		Rules: []owners.Rule{{ID: "all", Kind: owners.KindHost, Owner: "ops", Match: owners.Selector{All: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	registryRevision := func() int64 {
		resp, _ := a.call(t, http.MethodGet, "/api/v1/owners", testAdmin, nil)
		return revision(t, resp)
	}
	text := []string{"Accept", "text/plain"}
	resp, body := a.call(t, http.MethodPost, "/api/v1/ownership/apply?dry_run=1", testAdmin, file, text...)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
		strings.Contains(string(body), "applied") || !strings.Contains(string(body), "+all") || resp.Header.Get(RegistryRevisionHeader) != "" {
		t.Fatalf("dry run: %d %q, revision %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get(RegistryRevisionHeader), body)
	}
	if rev := registryRevision(); rev != 0 {
		t.Fatalf("registry at revision %d after a dry run", rev)
	}
	resp, body = a.call(t, http.MethodPost, "/api/v1/ownership/apply", testAdmin, file, text...)
	rev := revision(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "applied: registry revision "+strconv.FormatInt(rev, 10)+"\n") {
		t.Fatalf("apply: %d revision %d: %s", resp.StatusCode, rev, body)
	}
	if got := registryRevision(); got != rev {
		t.Fatalf("registry at revision %d right after the apply answered %d", got, rev)
	}
	if _, body := a.call(t, http.MethodGet, "/api/v1/why?asset=host:h1", testAdmin, nil); !strings.Contains(string(body), `"owner":"ops"`) {
		t.Fatalf("why host:h1 right after the apply: %s", body)
	}
	// A dry run of the registry in place changes nothing.
	resp, body = a.call(t, http.MethodPost, "/api/v1/ownership/apply?dry_run=true", testAdmin, file)
	var res ApplyResult
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &res) != nil || !res.DryRun || res.Revision != 0 || res.Diff == nil ||
		!res.Diff.Owners.Empty() || !res.Diff.Rules.Empty() || len(res.Diff.Assets) != 0 {
		t.Fatalf("dry run of the registry in place: %d %s", resp.StatusCode, body)
	}
	for _, c := range []struct{ query, ctype string }{{"", "application/xml"}, {"", "not a type"}, {"?dry_run=maybe", "application/json"}} {
		resp, body := a.call(t, http.MethodPost, "/api/v1/ownership/apply"+c.query, testAdmin, file, "Content-Type", c.ctype)
		want := http.StatusUnsupportedMediaType
		if c.query != "" {
			want = http.StatusBadRequest
		}
		if resp.StatusCode != want {
			t.Errorf("apply%s as %q: %d %s, want %d", c.query, c.ctype, resp.StatusCode, body, want)
		}
	}
	if got := registryRevision(); got != rev {
		t.Fatalf("refused applies moved the registry from revision %d to %d", rev, got)
	}
}

// TestReportNamingAnotherHost enrolls two hosts over HTTP; a report of h1's credential that
// names h2 is refused with 403 and leaves h2 as it was, while h1's own report goes through.
func TestReportNamingAnotherHost(t *testing.T) {
	a := serve(t, Options{})
	creds := map[string]string{}
	for _, id := range []string{"h1", "h2"} {
		body, err := protocol.Marshal(protocol.EnrollRequest{EnrollSecret: testSecret, HostID: id, Hostname: "host-" + id})
		if err != nil {
			t.Fatal(err)
		}
		resp, out := a.call(t, http.MethodPost, protocol.PathEnroll, "", body, "Content-Encoding", "gzip")
		var er protocol.EnrollResponse
		if resp.StatusCode != http.StatusOK || json.Unmarshal(out, &er) != nil || er.Credential == "" {
			t.Fatalf("enroll %s: %d %s", id, resp.StatusCode, out)
		}
		creds[id] = er.Credential
	}
	full := func(id, pkg string) []byte {
		st := &protocol.State{Host: model.Host{ID: id, Hostname: "host-" + id}, Software: []model.Package{{Source: "deb", Name: pkg, Version: "1.0"}}}
		protocol.Normalize(st)
		body, err := protocol.Marshal(&protocol.Report{HostID: id, Seq: 1, Kind: protocol.KindFull, Hash: protocol.Hash(st), State: st})
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	for _, c := range []struct {
		cred, id, pkg string
		want          int
	}{
		{creds["h2"], "h2", "real-tool", http.StatusOK},
		{creds["h1"], "h2", "forged-tool", http.StatusForbidden},
		{creds["h1"], "h1", "own-tool", http.StatusOK},
	} {
		resp, body := a.call(t, http.MethodPost, protocol.PathReport, c.cred, full(c.id, c.pkg), "Content-Encoding", "gzip")
		if resp.StatusCode != c.want {
			t.Fatalf("report of %s naming %s: %d %s, want %d", c.pkg, c.id, resp.StatusCode, body, c.want)
		}
	}
	for id, want := range map[string]string{"h1": "own-tool", "h2": "real-tool"} {
		_, body := a.call(t, http.MethodGet, "/api/v1/hosts/"+id, testAdmin, nil)
		if !strings.Contains(string(body), want) || strings.Contains(string(body), "forged-tool") {
			t.Errorf("host %s: want %s and nothing forged: %.300s", id, want, body)
		}
	}
}

// TestCatchUpBounded serves reads with a replica whose newest write is ahead of the index:
// a read waits for the index to reach it and then shows it; a write the index never
// reaches holds a read for catchUpWait only; writes do not wait.
func TestCatchUpBounded(t *testing.T) {
	base := newTestAPI(t, Options{})
	var written func() int64
	a, err := New(Options{Ingest: base.ing, Index: base.ix, Ownership: base.opts.Ownership, AdminToken: testAdmin,
		Written: func() int64 { return written() }})
	if err != nil {
		t.Fatal(err)
	}
	h := &testAPI{API: a, st: base.st, ix: base.ix, ing: base.ing}
	timed := func(method, path string) (*httptest.ResponseRecorder, time.Duration) {
		start := time.Now()
		w := h.do(t, method, path, testAdmin, nil)
		return w, time.Since(start)
	}

	// A write lands 200 ms after the read starts, at the revision after the index's.
	next := base.ix.Revision() + 1
	written = func() int64 { return next }
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		time.Sleep(200 * time.Millisecond)
		if _, err := base.opts.Ownership.Edit(context.Background(), ownership.Any, func(reg *owners.Registry) error {
			reg.Owners = append(reg.Owners, owners.Owner{ID: "late", State: owners.StateActive})
			return nil
		}); err != nil {
			t.Error(err)
		}
	}()
	w, took := timed(http.MethodGet, "/api/v1/owners")
	<-wrote
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"late"`) || took < 150*time.Millisecond {
		t.Fatalf("read behind a write: %d after %s: %s", w.Code, took, w.Body)
	}

	// A write the index never reaches.
	written = func() int64 { return base.ix.Revision() + 1000 }
	if w, took = timed(http.MethodGet, "/api/v1/owners"); w.Code != http.StatusOK || took < catchUpWait || took > catchUpWait+5*time.Second {
		t.Fatalf("read behind a write never indexed: %d after %s, want 200 after %s", w.Code, took, catchUpWait)
	}
	if w, took = timed(http.MethodDelete, "/api/v1/rules/none"); w.Code != http.StatusNotFound || took >= catchUpWait {
		t.Fatalf("write while behind: %d after %s, want 404 at once", w.Code, took)
	}
}
