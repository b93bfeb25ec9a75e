package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// BenchmarkHeartbeatHandler runs heartbeats of one enrolled host through the API's
// handler (credential, body limits, gzip, decoding, ingest, the answer), with real etcd
// behind it but no network: its allocations are what every steady-state report costs the
// collector besides the HTTP server's own.
func BenchmarkHeartbeatHandler(b *testing.B) {
	a := newTestAPI(b, Options{})
	cred := a.enroll(b, "h1")
	state := &protocol.State{Host: model.Host{ID: "h1", Hostname: "host-h1"}, Software: []model.Package{{Source: "deb", Name: "bash", Version: "5.2"}}}
	protocol.Normalize(state)
	hash := protocol.Hash(state)
	hb := &protocol.Report{HostID: "h1", Seq: 2, Kind: protocol.KindHeartbeat, BaseHash: hash, Hash: hash,
		Capacity: protocol.Capacity{MemoryAvailable: 1 << 30, Filesystems: []protocol.FilesystemUse{{Mountpoint: "/", UsedBytes: 1 << 30}}}}
	body, _ := protocol.Marshal(hb)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		req := httptest.NewRequest(http.MethodPost, protocol.PathReport, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+cred)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		w := httptest.NewRecorder()
		a.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("heartbeat: %d %s", w.Code, w.Body)
		}
	}
}
