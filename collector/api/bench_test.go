package api

import (
	"bytes"
	"context"
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

// BenchmarkHeartbeatHandler runs heartbeats of one enrolled host through the API's
// handler (credential, body limits, gzip, decoding, ingest, the answer), with real etcd
// behind it but no network: its allocations are what every steady-state report costs the
// collector besides the HTTP server's own.
func BenchmarkHeartbeatHandler(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := store.New(etcdtest.New(b), "")
	if err != nil {
		b.Fatal(err)
	}
	if err := st.EnsureSchema(ctx); err != nil {
		b.Fatal(err)
	}
	ix, err := index.New(index.Options{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = ix.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-ix.Ready()
	ing, err := ingest.New(ingest.Options{Store: st, Index: ix, EnrollSecret: "bench-secret-0123456789"})
	if err != nil {
		b.Fatal(err)
	}
	a, err := New(Options{Ingest: ing, Index: ix, Ownership: ownership.New(st, ix), Written: st.Written, AdminToken: "admin"})
	if err != nil {
		b.Fatal(err)
	}
	enr, err := ing.Enroll(ctx, &protocol.EnrollRequest{EnrollSecret: "bench-secret-0123456789", HostID: "h1"}, ingest.Peer{Addr: "127.0.0.1:1"})
	if err != nil {
		b.Fatal(err)
	}
	state := &protocol.State{Host: model.Host{ID: "h1", Hostname: "web1"}, Software: []model.Package{{Source: "deb", Name: "bash", Version: "5.2"}}}
	protocol.Normalize(state)
	hash := protocol.Hash(state)
	post := func(r *protocol.Report) *httptest.ResponseRecorder {
		body, err := protocol.Marshal(r)
		if err != nil {
			b.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, protocol.PathReport, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+enr.Credential)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		w := httptest.NewRecorder()
		a.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("report: %d %s", w.Code, w.Body)
		}
		return w
	}
	post(&protocol.Report{HostID: "h1", Seq: 1, Kind: protocol.KindFull, Hash: hash, State: state})
	hb := &protocol.Report{HostID: "h1", Seq: 2, Kind: protocol.KindHeartbeat, BaseHash: hash, Hash: hash,
		Capacity: protocol.Capacity{MemoryAvailable: 1 << 30, Filesystems: []protocol.FilesystemUse{{Mountpoint: "/", UsedBytes: 1 << 30}}}}
	body, _ := protocol.Marshal(hb)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		req := httptest.NewRequest(http.MethodPost, protocol.PathReport, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+enr.Credential)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		w := httptest.NewRecorder()
		a.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("heartbeat: %d %s", w.Code, w.Body)
		}
	}
}
