package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/wait"
)

// cutProxy forwards TCP connections to an etcd member until it is cut: then it closes them
// and refuses new ones, as a network partition between one collector and etcd would.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				c.Close()
				continue
			}
			d, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, d)
			p.mu.Unlock()
			go func() { io.Copy(d, c); d.Close() }()
			go func() { io.Copy(c, d); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// TestWatchedListedRelistedAgree builds three indexes of one store: one by watching a
// history of enrollments, full reports, deltas with installs and removals, registry changes
// and a deletion as it happened; one by listing the store afterwards; one cut off from etcd
// during the second half of the history and forced to list again when the revision it was
// watching from had been compacted. At the same revision all three must give identical
// answers on every API list and every fleet metric.
func TestWatchedListedRelistedAgree(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	clock := func() time.Time { return now.Add(time.Minute) }
	watched := start(t, Options{DataDir: t.TempDir(), EtcdClientURL: "http://127.0.0.1:0", Now: clock})
	ep := endpoint(t, watched)
	target, err := url.Parse(ep)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, target.Host)
	var relistLog syncBuffer
	relisted := start(t, Options{EtcdEndpoints: []string{proxy.URL()}, Now: clock, StoreProbeInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&relistLog, nil))})

	invs := []*model.Inventory{fixture.Golden(t, "debian12"), fixture.Golden(t, "rocky9"), fixture.Golden(t, "arch")}
	creds := map[string]string{}
	states := map[string]protocol.State{}
	seqs := map[string]uint64{}
	fullOf := func(inv *model.Inventory) {
		t.Helper()
		seqs[inv.Host.ID]++
		r, st := fullReport(inv, seqs[inv.Host.ID])
		report(t, watched.url, creds[inv.Host.ID], r)
		states[inv.Host.ID] = st
	}
	// change sends a delta from the host's state to edit(state), with its events.
	change := func(id string, edit func(*protocol.State)) {
		t.Helper()
		old := states[id]
		next := old
		next.Software = slices.Clone(old.Software)
		edit(&next)
		protocol.Normalize(&next)
		seqs[id]++
		r := &protocol.Report{HostID: id, Seq: seqs[id], Kind: protocol.KindDelta, SentAt: time.Now().UTC(), BaseHash: protocol.Hash(&old),
			Hash: protocol.Hash(&next), Delta: protocol.Diff(&old, &next), Events: protocol.Events(&old, &next, time.Now().UTC())}
		if resp := report(t, watched.url, creds[id], r); resp.Status != protocol.StatusAccepted {
			t.Fatalf("delta of %s: %+v", id, resp)
		}
		states[id] = next
	}
	install := func(name string) func(*protocol.State) {
		return func(st *protocol.State) {
			st.Software = append(st.Software, model.Package{Source: "deb", Name: name, Version: "1.0", Arch: "amd64", InstallTime: now.Add(-time.Hour)})
		}
	}
	remove := func(name string) func(*protocol.State) {
		return func(st *protocol.State) {
			st.Software = slices.DeleteFunc(st.Software, func(p model.Package) bool { return p.Name == name })
		}
	}
	deb, rocky, arch := invs[0].Host.ID, invs[1].Host.ID, invs[2].Host.ID

	// First half: watched by both.
	for _, inv := range invs {
		creds[inv.Host.ID] = enroll(t, watched.url, inv.Host.ID)
		fullOf(inv)
	}
	if code, body := do(t, "POST", watched.url+"/api/v1/ownership/apply", "application/yaml", "", []byte(testOwners)); code != 200 {
		t.Fatalf("apply: %d %s", code, body)
	}
	change(deb, install("shadow-tool"))
	change(rocky, install("shadow-tool"))
	change(deb, install("nginx-extras"))
	waitRevision(t, relisted, revisionOf(t, watched))

	// Second half: the relisted collector is cut off, and the store compacted meanwhile.
	proxy.setCut(true)
	change(rocky, remove("shadow-tool"))              // installed after enrollment, then removed
	change(deb, remove(states[deb].Software[0].Name)) // in the first report, then removed
	change(arch, install("crypto-miner"))             // unowned new software on a third host
	change(arch, install("miner-2"))
	if code, _, body := send(t, "PUT", watched.url+"/api/v1/rules/miners", admin, "", owners.Rule{ID: "miners", Kind: owners.KindSoftware,
		Match: owners.Selector{Name: "miner-*"}, Owner: "platform"}); code != 200 && code != 201 {
		t.Fatalf("put rule: %d %s", code, body)
	}
	if code, _, body := send(t, "PUT", watched.url+"/api/v1/assignments", admin, "", owners.Assignment{Kind: owners.KindSoftware, Asset: "deb:shadow-tool", Owner: "web"}); code != 200 && code != 201 {
		t.Fatalf("put assignment: %d %s", code, body)
	}
	if code, _, body := send(t, "DELETE", watched.url+"/api/v1/rules/sudo", admin, "", nil); code != 200 && code != 204 {
		t.Fatalf("delete rule: %d %s", code, body)
	}
	if code := call(t, "DELETE", watched.url+"/api/v1/hosts/"+rocky, admin, nil, false, nil); code != 200 && code != 204 {
		t.Fatalf("delete host: %d", code)
	}
	// The deleted host enrolls again with what it has now.
	creds[rocky] = enroll(t, watched.url, rocky)
	seqs[rocky] = 0
	fullOf(invs[1])
	change(rocky, install("late-tool"))
	wait.Until(t, 10*time.Second, "statuses flushed", func() bool {
		rev := revisionOf(t, watched)
		time.Sleep(300 * time.Millisecond)
		return revisionOf(t, watched) == rev
	})

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	rev := revisionOf(t, watched)
	if _, err := cli.Compact(context.Background(), rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	relists := counterValue(t, relisted, "onus_collector_index_relists_total")
	proxy.setCut(false)
	waitRevision(t, relisted, rev)
	if counterValue(t, relisted, "onus_collector_index_relists_total") <= relists || !strings.Contains(relistLog.String(), "compacted") {
		t.Fatalf("the cut-off collector did not list again after the compaction:\n%s", relistLog.String())
	}
	listed := start(t, Options{EtcdEndpoints: []string{ep}, Now: clock})
	waitRevision(t, listed, rev)

	// The installers map is what a lost relist dropped: check it is there at all.
	if got := body(t, listed, "/api/v1/software?unowned_new=true"); !strings.Contains(got, `"installing_hosts":["`+rocky+`"]`) ||
		!strings.Contains(got, `"installing_hosts":["`+arch+`"]`) {
		t.Errorf("the listed collector shows no installing hosts of unowned new software: %s", body(t, listed, "/api/v1/software?unowned_new=true"))
	}

	paths := []string{"/api/v1/hosts", "/api/v1/hosts?stale=1m", "/api/v1/software", "/api/v1/software?unowned_new=true",
		"/api/v1/software?installed=true", "/api/v1/software?unowned=true", "/api/v1/software?orphaned=true", "/api/v1/software?owner=web",
		"/api/v1/services", "/api/v1/services?unowned=true", "/api/v1/owners", "/api/v1/rules", "/api/v1/assignments", "/api/v1/coverage",
		"/api/v1/export?kind=hosts&format=json", "/api/v1/export?kind=software&format=json", "/api/v1/export?kind=hosts&format=csv"}
	for _, id := range []string{deb, rocky, arch} {
		paths = append(paths, "/api/v1/hosts/"+id, "/api/v1/why?asset=host:"+id)
	}
	for _, title := range []string{"deb:shadow-tool", "deb:nginx-extras", "deb:miner-2", "deb:crypto-miner", "deb:late-tool", "rpm:bash"} {
		paths = append(paths, "/api/v1/why?asset=software:"+title)
	}
	paths = append(paths, "/api/v1/why?asset=service:"+deb+"/port:tcp/22")
	for _, p := range paths {
		w := body(t, watched, p)
		if l := body(t, listed, p); l != w {
			t.Errorf("%s: listed differs from watched:\n%s\n%s", p, w, l)
		}
		if r := body(t, relisted, p); r != w {
			t.Errorf("%s: relisted differs from watched:\n%s\n%s", p, w, r)
		}
	}
	w := fleetMetrics(t, watched)
	if l := fleetMetrics(t, listed); l != w {
		t.Errorf("metrics: listed differ from watched:\n%s", lineDiff(w, l))
	}
	if r := fleetMetrics(t, relisted); r != w {
		t.Errorf("metrics: relisted differ from watched:\n%s", lineDiff(w, r))
	}
	if n := strings.Count(w, "\n"); n < 30 {
		t.Errorf("only %d metric lines compared:\n%s", n, w)
	}
	t.Logf("%d answers and %d metric lines identical on the watched, listed and relisted collectors at revision %d", len(paths), strings.Count(w, "\n"), rev)
}

// body returns the answer of an admin GET, which must be 200.
func body(t *testing.T, c *running, path string) string {
	t.Helper()
	code, b := do(t, "GET", c.url+path, "", "", nil)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", path, code, b)
	}
	return string(b)
}

func revisionOf(t *testing.T, c *running) int64 {
	t.Helper()
	return int64(gauge(t, c.opts.Registerer.(*prometheus.Registry), "onus_collector_index_revision"))
}

func waitRevision(t *testing.T, c *running, rev int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for revisionOf(t, c) < rev {
		if time.Now().After(deadline) {
			t.Fatalf("%s stays at revision %d, want %d", c.url, revisionOf(t, c), rev)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func counterValue(t *testing.T, c *running, name string) float64 {
	t.Helper()
	mfs, err := c.opts.Registerer.(*prometheus.Registry).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}

// fleetMetrics renders every onus_* gauge a collector serves: what it says about the fleet
// and its index. Counters and histograms count this process's own work and differ by nature.
func fleetMetrics(t *testing.T, c *running) string {
	t.Helper()
	mfs, err := c.opts.Registerer.(*prometheus.Registry).Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "onus_") || (mf.GetType() != dto.MetricType_GAUGE && mf.GetType() != dto.MetricType_UNTYPED) {
			continue
		}
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// lineDiff lists the lines only one of a and b has.
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for l := range ma {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for l := range mb {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	slices.Sort(out)
	return fmt.Sprint(strings.Join(out, "\n"))
}
