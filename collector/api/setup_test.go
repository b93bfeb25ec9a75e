package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/onus-project/onus/collector/index"
	"github.com/onus-project/onus/collector/ingest"
	"github.com/onus-project/onus/collector/ownership"
	"github.com/onus-project/onus/internal/etcdtest"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
)

const (
	testSecret = "enroll-secret-0123456789"
	testAdmin  = "admin-token"
	testRead   = "read-token"
)

// testAPI is an API on the real parts: an embedded etcd, the store, an index that watches
// it, ingest and the ownership service.
type testAPI struct {
	*API
	st  *store.Store
	ix  *index.Index
	ing *ingest.Ingest
}

func newTestAPI(tb testing.TB, opts Options) *testAPI {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.New(etcdtest.New(tb), "")
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.EnsureSchema(ctx); err != nil {
		tb.Fatal(err)
	}
	ix, err := index.New(index.Options{Store: st})
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = ix.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	<-ix.Ready()
	ing, err := ingest.New(ingest.Options{Store: st, Index: ix, EnrollSecret: testSecret})
	if err != nil {
		tb.Fatal(err)
	}
	opts.Ingest, opts.Index, opts.Ownership, opts.Written = ing, ix, ownership.New(st, ix), st.Written
	if opts.AdminToken == "" {
		opts.AdminToken = testAdmin
	}
	a, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return &testAPI{API: a, st: st, ix: ix, ing: ing}
}

// do serves one request (see newRequest) to the handler.
func (t *testAPI) do(tb testing.TB, method, path, token string, body any, header ...string) *httptest.ResponseRecorder {
	tb.Helper()
	req := newRequest(tb, method, path, token, body, header...)
	w := httptest.NewRecorder()
	t.ServeHTTP(w, req)
	return w
}

// enroll enrolls a host and sends its first full report; it returns the credential.
func (t *testAPI) enroll(tb testing.TB, id string) string {
	tb.Helper()
	return t.enrollWith(tb, id, &protocol.State{Host: model.Host{ID: id, Hostname: "host-" + id},
		Software: []model.Package{{Source: "deb", Name: "bash", Version: "5.2"}}})
}

// enrollWith is enroll with the state of the first full report.
func (t *testAPI) enrollWith(tb testing.TB, id string, st *protocol.State) string {
	tb.Helper()
	resp, err := t.ing.Enroll(context.Background(), &protocol.EnrollRequest{EnrollSecret: testSecret, HostID: id, Hostname: "host-" + id},
		ingest.Peer{Addr: "127.0.0.1:1"})
	if err != nil {
		tb.Fatal(err)
	}
	protocol.Normalize(st)
	body, err := protocol.Marshal(&protocol.Report{HostID: id, Seq: 1, Kind: protocol.KindFull, Hash: protocol.Hash(st), State: st})
	if err != nil {
		tb.Fatal(err)
	}
	if w := t.do(tb, http.MethodPost, protocol.PathReport, resp.Credential, body, "Content-Encoding", "gzip"); w.Code != http.StatusOK {
		tb.Fatalf("first report of %s: %d %s", id, w.Code, w.Body)
	}
	return resp.Credential
}

// newRequest builds a request with the bearer token (if any); body is sent as JSON unless
// it is already bytes; header holds name, value pairs.
func newRequest(tb testing.TB, method, url, token string, body any, header ...string) *http.Request {
	tb.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		r = bytes.NewReader(js)
	}
	req := httptest.NewRequest(method, url, r)
	req.RequestURI = "" // a client request too (httpAPI.call)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}
