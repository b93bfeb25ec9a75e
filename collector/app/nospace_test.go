package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/wait"
)

// TestNoSpaceRecovery fills a collector's embedded etcd, given a small quota, with reports:
// the report that does not fit is answered 503 naming NOSPACE with Retry-After, readyz fails
// and the metrics say NOSPACE; the runbook's recovery (compact, defragment, disarm) makes the
// collector ready and writable again, and every report answered 200 is in the store.
func TestNoSpaceRecovery(t *testing.T) {
	var logs syncBuffer
	c := start(t, Options{DataDir: t.TempDir(), EtcdClientURL: "http://127.0.0.1:0", EtcdQuotaBytes: 2 << 20,
		StoreProbeInterval: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	hc := &http.Client{Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	reg := c.opts.Registerer.(*prometheus.Registry)
	inv := fixture.Golden(t, "debian12")
	cred := enroll(t, c.url, inv.Host.ID)
	base, _ := fullReport(inv, 1)
	// Each report carries 300 services with random descriptions: a host record that does
	// not compress away, rewritten on every report, so the store's history grows fast (and
	// the live data stays small: compaction frees it).
	services := func() []model.Service {
		out := make([]model.Service, 300)
		for i := range out {
			b := make([]byte, 24)
			rand.Read(b)
			out[i] = model.Service{Manager: "systemd", Name: fmt.Sprintf("svc-%03d.service", i), Description: hex.EncodeToString(b)}
		}
		return out
	}
	acked := ""
	var refused answer
	var last *protocol.Report
	for seq := uint64(1); seq < 2000; seq++ {
		next := *inv
		next.Services = services()
		r, _ := fullReport(&next, seq)
		r.Capacity = base.Capacity
		a := post(t, hc, c.url+protocol.PathReport, cred, marshal(t, r))
		if a.code == http.StatusOK {
			var resp protocol.ReportResponse
			if err := json.Unmarshal(a.body, &resp); err != nil || resp.Status != protocol.StatusAccepted || resp.Hash != r.Hash {
				t.Fatalf("report %d: %s", seq, a.body)
			}
			acked = r.Hash
			continue
		}
		refused, last = a, r
		break
	}
	if acked == "" || last == nil {
		t.Fatalf("the store never filled (last hash %q)", acked)
	}
	if refused.code != http.StatusServiceUnavailable || refused.retryAfter != "60" || !strings.Contains(refused.msg, "NOSPACE") {
		t.Fatalf("report over the quota: %d, Retry-After %q, %q", refused.code, refused.retryAfter, refused.msg)
	}
	wait.Until(t, 10*time.Second, "readyz to fail on NOSPACE", func() bool {
		code, body := readyz(hc, c.url)
		return code == http.StatusServiceUnavailable && strings.Contains(body, "NOSPACE")
	})
	if v := gauge(t, reg, "onus_collector_store_nospace"); v != 1 {
		t.Errorf("onus_collector_store_nospace: %v", v)
	}
	// The refusal came from a write that met NOSPACE (counted), or from readiness, which
	// had seen it first and answers without asking the store.
	first := logs.String()
	if i := strings.Index(first, "request failed: store"); i < 0 {
		t.Errorf("no log line for the refused report:\n%s", first)
	} else if line, _, _ := strings.Cut(first[i:], "\n"); !strings.Contains(line, "(readiness probe:") {
		if v := counter(t, reg, "onus_collector_store_errors_total", "reason", "nospace"); v < 1 {
			t.Errorf("onus_collector_store_errors_total{reason=nospace} is %v after %s", v, line)
		}
	}
	// Reads still work while the store is full. The store holds the last report answered 200,
	// or the refused one: etcd applies the write that crosses the quota, then answers it
	// NOSPACE; the agent's resend is then a duplicate.
	var h hostDetail
	if code := call(t, "GET", c.url+"/api/v1/hosts/"+inv.Host.ID, admin, nil, false, &h); code != 200 || (h.Hash != acked && h.Hash != last.Hash) {
		t.Fatalf("host while the store is full: %d, hash %s; last acknowledged %s, refused %s", code, h.Hash, acked, last.Hash)
	}

	// docs/runbook.md, OnusStoreNoSpace: what etcdctl compact, defrag and alarm disarm do.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint(t, c)}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	status, err := cli.Status(ctx, endpoint(t, c))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, status.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Defragment(ctx, endpoint(t, c)); err != nil {
		t.Fatal(err)
	}
	alarms, err := cli.AlarmList(ctx)
	if err != nil || len(alarms.Alarms) == 0 {
		t.Fatalf("alarm list: %v, %v", alarms, err)
	}
	if _, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{}); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, "readyz after the recovery", func() bool { code, _ := readyz(hc, c.url); return code == 200 })
	if v := gauge(t, reg, "onus_collector_store_nospace"); v != 0 {
		t.Errorf("onus_collector_store_nospace after the recovery: %v", v)
	}
	// The agent sends the refused report again: accepted, and nothing acknowledged before
	// the store filled was lost on the way.
	if a := post(t, hc, c.url+protocol.PathReport, cred, marshal(t, last)); a.code != 200 {
		t.Fatalf("the refused report sent again: %d %q", a.code, a.msg)
	}
	kv, err := cli.Get(ctx, "/onus/hosts/"+inv.Host.ID)
	if err != nil || len(kv.Kvs) != 1 {
		t.Fatalf("host record after the recovery: %v", err)
	}
	if code := call(t, "GET", c.url+"/api/v1/hosts/"+inv.Host.ID, admin, nil, false, &h); code != 200 || h.Hash != last.Hash {
		t.Fatalf("host after the recovery: %d, hash %s, want %s", code, h.Hash, last.Hash)
	}
	t.Logf("store full after %d accepted reports; recovered", last.Seq-1)
}
