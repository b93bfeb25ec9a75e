// Package monitoring checks what Onus ships for monitoring against a real Prometheus
// (internal/promtest) scraping a real collector and onus-agent: every Grafana dashboard query
// (deploy/grafana) and rule expression (deploy/prometheus/onus-rules.yml) runs on a collector
// fed with golden inventories and the load generator's fleet, the unowned-software chain is
// timed from install to alert, and promtool checks the collector's metric names.
package monitoring

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.yaml.in/yaml/v3"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/inventory"
	"github.com/onus-project/onus/agent/reporter"
	"github.com/onus-project/onus/collector/app"
	"github.com/onus-project/onus/collector/app/apptest"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/promtest"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/bg"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/loadgen"
)

const (
	secret = "promtest-enroll-secret-0123456789"
	admin  = "promtest-admin-token-0123456789"
	// rateWindow replaces Grafana's $__rate_interval and $__interval: with a 1 s scrape,
	// a window of several scrapes.
	rateWindow = "30s"
	// fleetHosts is the size of the load generator's fleet added to the golden hosts.
	fleetHosts = 200
)

// registry owns the hosts and a few packages of the golden inventories; shadow-tool,
// installed later, stays unowned until ownedRule is added.
const registry = `owners:
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
`

const ownedRule = `  - {id: shadow-tool, kind: software, match: {name: shadow-tool}, owner: platform}
`

// startCollector starts a collector with the test's secrets and returns its address.
func startCollector(t *testing.T) string {
	t.Helper()
	return apptest.Start(t, app.Options{EnrollSecret: secret, AdminToken: admin}).Addr()
}

// post sends body to url and returns the status and the answer.
func post(t *testing.T, url, token, ctype string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", ctype)
	if ctype == "application/json" {
		// protocol.Marshal compresses.
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func postJSON(t *testing.T, url, token string, v, out any) {
	t.Helper()
	b, err := protocol.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	code, body := post(t, url, token, "application/json", b)
	if code != 200 {
		t.Fatalf("POST %s: %d %s", url, code, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("POST %s: %v in %s", url, err, body)
	}
}

func applyRegistry(t *testing.T, base, yml string) {
	t.Helper()
	if code, body := post(t, base+"/api/v1/ownership/apply", admin, "application/yaml", []byte(yml)); code != 200 {
		t.Fatalf("apply: %d %s", code, body)
	}
}

// host is an enrolled golden host whose reports the test sends.
type host struct {
	id, cred, hash string
	seq            uint64
	state          protocol.State
	capacity       protocol.Capacity
}

func enrollAndReport(t *testing.T, base string, inv *model.Inventory) *host {
	t.Helper()
	var er protocol.EnrollResponse
	postJSON(t, base+protocol.PathEnroll, "", protocol.EnrollRequest{EnrollSecret: secret, HostID: inv.Host.ID}, &er)
	st, c := protocol.FromInventory(inv)
	h := &host{id: inv.Host.ID, cred: er.Credential, seq: 1, state: st, capacity: c, hash: protocol.Hash(&st)}
	var resp protocol.ReportResponse
	postJSON(t, base+protocol.PathReport, h.cred, &protocol.Report{HostID: h.id, Seq: 1, Kind: protocol.KindFull, SentAt: time.Now().UTC(),
		Hash: h.hash, State: &st, Capacity: c}, &resp)
	if resp.Status != protocol.StatusAccepted {
		t.Fatalf("full report of %s: %+v", h.id, resp)
	}
	return h
}

// install sends a delta report installing a deb package on h.
func (h *host) install(t *testing.T, base, name string, at time.Time) {
	t.Helper()
	next := h.state
	next.Software = append(slices.Clone(h.state.Software), model.Package{Source: "deb", Name: name, Version: "1.0-1", Arch: "amd64", InstallTime: at})
	protocol.Normalize(&next)
	h.seq++
	r := &protocol.Report{HostID: h.id, Seq: h.seq, Kind: protocol.KindDelta, SentAt: time.Now().UTC(), BaseHash: h.hash,
		Hash: protocol.Hash(&next), Delta: protocol.Diff(&h.state, &next), Events: protocol.Events(&h.state, &next, at), Capacity: h.capacity}
	var resp protocol.ReportResponse
	postJSON(t, base+protocol.PathReport, h.cred, r, &resp)
	if resp.Status != protocol.StatusAccepted {
		t.Fatalf("delta of %s: %+v", h.id, resp)
	}
	h.state, h.hash = next, r.Hash
}

// startAgent runs a real agent (inventory and reporter) on a copy of a fixture root,
// enrolled with the collector at base, waits for its first accepted report, and serves its
// metrics on loopback as onus-agent run --metrics-address does; it returns that address.
func startAgent(t *testing.T, base, fixtureName string) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	root, state := fixture.Root(t, fixtureName), t.TempDir()
	inv, err := inventory.New(inventory.Options{Root: hostfs.Root(root), StateDir: state, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	r, err := reporter.New(reporter.Options{CollectorURL: base, InsecureHTTP: true, EnrollSecret: secret, StateDir: state,
		Inventory: inv, HostRoot: hostfs.Root(root), HeartbeatInterval: time.Second, Registerer: reg,
		BackoffMin: 50 * time.Millisecond, BackoffMax: 300 * time.Millisecond, HTTPTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	bg.Go(t, "agent", r.Run)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	promtest.WaitFor(t, "the agent's first accepted report", 20*time.Second, func() bool {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "onus_agent_last_accepted_timestamp_seconds" && len(mf.GetMetric()) > 0 && mf.GetMetric()[0].GetGauge().GetValue() > 0 {
				return true
			}
		}
		return false
	})
	return strings.TrimPrefix(srv.URL, "http://")
}

// panelQuery is one target of a dashboard panel.
type panelQuery struct {
	where, expr string
	// record: a recording rule's expression.
	record bool
}

// seriesName matches metric names and recording rule names (level:metric:operations) in an
// expression, and the words that look like them but are not.
var (
	seriesName = regexp.MustCompile(`\b(onus_[a-z0-9_]+|[a-z_]+:[a-z0-9_]+:[a-z0-9_]+)\b`)
)

// seriesNames returns the metric and recorded series names an expression reads.
func seriesNames(expr string) []string {
	var out []string
	for _, m := range seriesName.FindAllString(expr, -1) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// dashboardQueries reads a dashboard's panel queries and checks that every panel and target
// uses the datasource variable.
func dashboardQueries(t *testing.T, file string) []panelQuery {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	type ds struct{ Type, UID string }
	type panel struct {
		ID         int
		Type       string
		Title      string
		Datasource *ds
		Targets    []struct {
			RefID      string
			Datasource *ds
			Expr       string
		}
		Panels []json.RawMessage
	}
	var d struct {
		UID           string
		SchemaVersion int
		Templating    struct {
			List []struct{ Name, Type, Query string }
		}
		Panels []json.RawMessage
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if d.UID == "" || d.SchemaVersion < 36 {
		t.Errorf("%s: uid %q, schemaVersion %d: want a uid and a Grafana 10 schema", file, d.UID, d.SchemaVersion)
	}
	if !slices.ContainsFunc(d.Templating.List, func(v struct{ Name, Type, Query string }) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	}) {
		t.Errorf("%s: no datasource variable of type prometheus", file)
	}
	wantDS := func(where string, x *ds) {
		if x == nil || x.Type != "prometheus" || x.UID != "${datasource}" {
			t.Errorf("%s: datasource %+v, want prometheus ${datasource}", where, x)
		}
	}
	var out []panelQuery
	ids := map[int]bool{}
	var walk func([]json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if ids[p.ID] {
				t.Errorf("%s: panel id %d twice", file, p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			where := fmt.Sprintf("%s panel %q", filepath.Base(file), p.Title)
			wantDS(where, p.Datasource)
			if len(p.Targets) == 0 {
				t.Errorf("%s: no query", where)
			}
			for _, tg := range p.Targets {
				wantDS(where+" "+tg.RefID, tg.Datasource)
				out = append(out, panelQuery{where: where + " " + tg.RefID, expr: tg.Expr})
			}
		}
	}
	walk(d.Panels)
	return out
}

// ruleExprs reads the expressions of every recording and alerting rule.
func ruleExprs(t *testing.T, file string) []panelQuery {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string
			Rules []struct{ Record, Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	var out []panelQuery
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out = append(out, panelQuery{fmt.Sprintf("rule %s/%s%s", g.Name, r.Record, r.Alert), r.Expr, r.Record != ""})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no rules", file)
	}
	return out
}

// TestDashboardsAndRules starts a collector with an embedded etcd fed with three golden
// inventories, a registry and the load generator's fleet (through the real report path),
// and a real Prometheus scraping it every second with the Onus rules. It measures the chain
// from a delta report installing an unowned package to the collector's metric, Prometheus
// and the OnusUnownedSoftwareInstalled alert, runs every dashboard panel query (each must
// return data) and every rule expression (each must parse and evaluate without error), and
// then applies an owner rule for the package and measures until the series disappears and
// the alert resolves. (e2e's TestAlertFiresAndResolves waits for the alert to fire,
// with a real agent.)
func TestDashboardsAndRules(t *testing.T) {
	if _, err := os.Stat(promtest.Binary); err != nil {
		t.Fatalf("%s not found: install the Debian package (apt-get install prometheus; .ci/run installs it)", promtest.Binary)
	}
	begin := time.Now()
	addr := startCollector(t)
	base := "http://" + addr
	var hosts []*host
	// The golden inventories carry no file system sizes: give each root file system some,
	// web-01's 95 % full (disk pressure).
	const gib = 1 << 30
	for i, name := range []string{"debian12", "rocky9", "arch"} {
		inv := fixture.Golden(t, name)
		size := []uint64{100, 50, 200}[i] * gib
		used := []uint64{95, 10, 100}[i] * gib
		for j, f := range inv.Host.Filesystems {
			if f.Mountpoint == "/" {
				inv.Host.Filesystems[j].TotalBytes, inv.Host.Filesystems[j].UsedBytes, inv.Host.Filesystems[j].FreeBytes = size, used, size-used
			}
		}
		hosts = append(hosts, enrollAndReport(t, base, inv))
	}
	applyRegistry(t, base, registry)

	// The load generator's fleet: hosts of several OS families and roles (web-*, db-*, ...
	// owned by the registry's hostname rules), with capacity, services and churn.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g, err := loadgen.New(loadgen.Options{URL: base, InsecureHTTP: true, EnrollSecret: secret, Embedded: true,
		Hosts: fleetHosts, Concurrency: 8, MinPackages: 50, MaxPackages: 200, Pool: 2000, Churn: 0.3, Rounds: 1, Interval: -1, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Phases {
		if p.GaveUp != 0 || p.Done != p.Jobs {
			t.Fatalf("load generator %s: %d of %d turns done, %d gave up", p.Name, p.Done, p.Jobs, p.GaveUp)
		}
	}
	t.Logf("collector, %d golden + %d generated hosts and registry after %.2fs", len(hosts), fleetHosts, time.Since(begin).Seconds())

	// A real agent on a fixture root, its metrics served on loopback for the agent alerts.
	agentMetrics := startAgent(t, base, "alpine3")

	prom := promtest.Start(t, promtest.RulesFile(t), map[string]string{"onus-collector": addr, "onus-agent": agentMetrics})
	t.Logf("Prometheus ready after %.2fs", time.Since(begin).Seconds())
	promtest.WaitFor(t, "first scrape", 15*time.Second, func() bool {
		return len(prom.Samples(t, `up == 1`)) == 2 && len(prom.Samples(t, `onus_assets{kind="host"}`)) == 1
	})
	if s := prom.Samples(t, `onus_assets{kind="host"}`); len(s) != 1 || s[0].Value[1] != fmt.Sprint(len(hosts)+fleetHosts+1) {
		t.Errorf("onus_assets{kind=\"host\"} in Prometheus: %v, want %d", s, len(hosts)+fleetHosts+1)
	}
	t.Logf("collector, hosts, registry and Prometheus up after %.2fs", time.Since(begin).Seconds())

	// The chain: install → collector metric → Prometheus → alert pending.
	const info = `onus_software_unowned_new_info{title="deb:shadow-tool"}`
	installed := time.Now()
	hosts[0].install(t, base, "shadow-tool", installed.UTC().Truncate(time.Second))
	toCollector := promtest.WaitFor(t, "collector metric", 10*time.Second, func() bool {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return bytes.Contains(b, []byte(`title="deb:shadow-tool"`))
	})
	toProm := promtest.WaitFor(t, "series in Prometheus", 10*time.Second, func() bool { return len(prom.Samples(t, info)) == 1 })
	toProm += toCollector
	const alert = `ALERTS{alertname="OnusUnownedSoftwareInstalled",title="deb:shadow-tool"`
	toPending := promtest.WaitFor(t, "alert pending", 10*time.Second, func() bool {
		return len(prom.Samples(t, alert+`,alertstate="pending"}`)) == 1
	})
	toPending += toProm
	t.Logf("install → collector metric %.3fs → Prometheus %.3fs → alert OnusUnownedSoftwareInstalled pending %.3fs "+
		"(it fires after the rule's for: 1m more, about %.0fs after install)", toCollector.Seconds(), toProm.Seconds(), toPending.Seconds(), toPending.Seconds()+60)

	// Every panel query returns data; every rule expression parses. A rate needs two scrapes
	// in its window: wait for a few.
	promtest.WaitFor(t, "scrapes for rates", 10*time.Second, func() bool {
		s := prom.Samples(t, `count_over_time(up{job="onus-collector"}[`+rateWindow+`])`)
		return len(s) == 1 && s[0].Value[1] != "1" && s[0].Value[1] != "2"
	})
	repl := strings.NewReplacer("$__rate_interval", rateWindow, "${__rate_interval}", rateWindow, "$__interval", rateWindow, "${__interval}", rateWindow)
	var n int
	for _, file := range []string{"onus-ownership.json", "onus-operations.json"} {
		for _, q := range dashboardQueries(t, filepath.Join("..", "..", "deploy", "grafana", file)) {
			n++
			expr := repl.Replace(q.expr)
			if strings.Contains(expr, "$") {
				t.Errorf("%s: unreplaced variable in %s", q.where, expr)
				continue
			}
			r := prom.Query(t, expr)
			switch {
			case r.Status != "success":
				t.Errorf("%s: %s: %s: %s", q.where, expr, r.ErrorType, r.Error)
			case !r.NonEmpty():
				t.Errorf("%s: %s: no data", q.where, expr)
			}
		}
	}
	// A recording rule returns data; an alert's expression returns data only while it fires,
	// so every series it reads (metrics and recorded series) must have data instead.
	for _, q := range ruleExprs(t, promtest.RulesFile(t)) {
		n++
		r := prom.Query(t, q.expr)
		switch {
		case r.Status != "success":
			t.Errorf("%s: %s: %s: %s", q.where, q.expr, r.ErrorType, r.Error)
		case q.record && !r.NonEmpty():
			t.Errorf("%s: %s: no data", q.where, q.expr)
		case !q.record:
			for _, name := range seriesNames(q.expr) {
				if !prom.Query(t, "count("+name+")").NonEmpty() {
					t.Errorf("%s: reads %s, which has no data", q.where, name)
				}
			}
		}
	}
	// Prometheus itself evaluates the rules without errors.
	for _, bad := range prom.RuleHealth(t) {
		t.Errorf("rule %s", bad)
	}
	t.Logf("%d dashboard and rule queries checked", n)

	// An owner rule for the title: the info series disappears and the alert resolves.
	owned := time.Now()
	applyRegistry(t, base, registry+ownedRule)
	gone := promtest.WaitFor(t, "series gone from Prometheus", 10*time.Second, func() bool { return len(prom.Samples(t, info)) == 0 })
	promtest.WaitFor(t, "alert resolved", 10*time.Second, func() bool { return len(prom.Samples(t, alert+"}")) == 0 })
	t.Logf("owner rule applied → series gone from Prometheus %.3fs, alert gone %.3fs after apply", gone.Seconds(), time.Since(owned).Seconds())
	t.Logf("total %.2fs", time.Since(begin).Seconds())
}

// TestPromtoolCheckMetrics runs `promtool check metrics` (Debian's prometheus package) on the
// Onus metrics a real collector serves, with hosts, a registry and unowned new software in
// it: names, types, units and help texts follow Prometheus's conventions. The embedded
// etcd's and the Go runtime's own metrics are not Onus's to rename and are left out.
func TestPromtoolCheckMetrics(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install the Debian package (apt-get install prometheus; .ci/run installs it)")
	}
	addr := startCollector(t)
	base := "http://" + addr
	h := enrollAndReport(t, base, fixture.Golden(t, "debian12"))
	enrollAndReport(t, base, fixture.Golden(t, "rocky9"))
	applyRegistry(t, base, registry)
	h.install(t, base, "shadow-tool", time.Now().UTC().Truncate(time.Second))
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var onus bytes.Buffer
	families := map[string]bool{}
	for line := range strings.Lines(string(body)) {
		name := line
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name = rest
		} else if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name = rest
		}
		if strings.HasPrefix(name, "onus_") {
			onus.WriteString(line)
			families[strings.FieldsFunc(name, func(r rune) bool { return r == ' ' || r == '{' })[0]] = true
		}
	}
	for _, want := range []string{"onus_assets", "onus_software_unowned_new_info", "onus_hosts", "onus_collector_reports_total"} {
		if !families[want] {
			t.Errorf("/metrics has no %s", want)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &onus
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics on %d Onus metric families: %v\n%s", len(families), err, out)
	}
	t.Logf("promtool check metrics: %d Onus metric families clean", len(families))
}
