package promtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/onus-project/onus/collector/app"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

const (
	secret = "promtest-enroll-secret-0123456789"
	admin  = "promtest-admin-token-0123456789"
	// prometheusBin is the Debian package's server (apt-get install prometheus; .ci/run
	// installs it).
	prometheusBin = "/usr/bin/prometheus"
	// rateWindow replaces Grafana's $__rate_interval and $__interval: with a 1 s scrape,
	// a window of several scrapes.
	rateWindow = "30s"
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

func startCollector(t *testing.T) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := app.New(app.Options{ListenAddress: "127.0.0.1:0", InsecureHTTP: true, DataDir: t.TempDir(), EnrollSecret: secret, AdminToken: admin,
		StatusFlushInterval: 50 * time.Millisecond, Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-c.Listening():
	case err := <-done:
		cancel()
		t.Fatalf("collector: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("collector: %v", err)
		}
	})
	ready := c.Ready()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("collector not ready")
	}
	return c.Addr()
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

func golden(t *testing.T, name string) *model.Inventory {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "agent", "inventory", "testdata", name+".golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var inv model.Inventory
	if err := json.Unmarshal(b, &inv); err != nil {
		t.Fatal(err)
	}
	return &inv
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

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// startPrometheus runs /usr/bin/prometheus scraping target every second with the Onus rules
// evaluated every second, and returns its base URL.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	if _, err := os.Stat(prometheusBin); err != nil {
		t.Fatalf("%s not found: install the Debian package (apt-get install prometheus; .ci/run installs it): %v", prometheusBin, err)
	}
	rules, err := filepath.Abs(filepath.Join("..", "..", "deploy", "prometheus", "onus-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: onus-collector
    static_configs:
      - targets: [%q]
`, rules, target)
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	var logs bytes.Buffer
	cmd := exec.Command(prometheusBin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("prometheus exited: %v\n%s", err, logs.String())
		default:
		}
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type queryResult struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query runs an instant query; it fails the test only when Prometheus cannot be reached.
func query(t *testing.T, prom, q string) queryResult {
	t.Helper()
	resp, err := http.PostForm(prom+"/api/v1/query", url.Values{"query": {q}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r queryResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	return r
}

// samples returns the vector an instant query answers (nil for other result types).
func samples(t *testing.T, prom, q string) []sample {
	t.Helper()
	r := query(t, prom, q)
	if r.Status != "success" {
		t.Fatalf("query %s: %s: %s", q, r.ErrorType, r.Error)
	}
	var s []sample
	if r.Data.ResultType == "vector" {
		if err := json.Unmarshal(r.Data.Result, &s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// nonEmpty tells whether a result holds data: a non-empty vector or matrix, or a scalar.
func nonEmpty(r queryResult) bool {
	switch r.Data.ResultType {
	case "vector", "matrix":
		var s []json.RawMessage
		return json.Unmarshal(r.Data.Result, &s) == nil && len(s) > 0
	default:
		return len(r.Data.Result) > 0 && string(r.Data.Result) != "null"
	}
}

// waitFor polls cond every 50 ms until it holds or timeout passes, and returns how long
// it took.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not after %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// panelQuery is one target of a dashboard panel.
type panelQuery struct {
	where, expr string
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
				out = append(out, panelQuery{where + " " + tg.RefID, tg.Expr})
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
			out = append(out, panelQuery{fmt.Sprintf("rule %s/%s%s", g.Name, r.Record, r.Alert), r.Expr})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no rules", file)
	}
	return out
}

// TestDashboardsAndRules starts a collector with an embedded etcd fed with three golden
// inventories and a registry, and a real Prometheus scraping it every second with the Onus
// rules. It measures the chain from a delta report installing an unowned package to the
// collector's metric, Prometheus and the OnusUnownedSoftwareInstalled alert, runs every
// dashboard panel query (each must return data) and every rule expression (each must parse),
// and then applies an owner rule for the package and measures until the series disappears
// and the alert resolves.
func TestDashboardsAndRules(t *testing.T) {
	if _, err := os.Stat(prometheusBin); err != nil {
		t.Fatalf("%s not found: install the Debian package (apt-get install prometheus; .ci/run installs it)", prometheusBin)
	}
	begin := time.Now()
	addr := startCollector(t)
	base := "http://" + addr
	var hosts []*host
	// The golden inventories carry no file system sizes: give each root file system some,
	// web-01's 95 % full (disk pressure).
	const gib = 1 << 30
	for i, name := range []string{"debian12", "rocky9", "arch"} {
		inv := golden(t, name)
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

	t.Logf("collector, 3 hosts and registry after %.2fs", time.Since(begin).Seconds())
	prom := startPrometheus(t, addr)
	t.Logf("Prometheus ready after %.2fs", time.Since(begin).Seconds())
	waitFor(t, "first scrape", 15*time.Second, func() bool {
		return len(samples(t, prom, `up{job="onus-collector"} == 1`)) == 1 && len(samples(t, prom, `onus_assets{kind="host"}`)) == 1
	})
	t.Logf("collector, 3 hosts, registry and Prometheus up after %.2fs", time.Since(begin).Seconds())

	// The chain: install → collector metric → Prometheus → alert pending.
	const info = `onus_software_unowned_new_info{title="deb:shadow-tool"}`
	installed := time.Now()
	hosts[0].install(t, base, "shadow-tool", installed.UTC().Truncate(time.Second))
	toCollector := waitFor(t, "collector metric", 10*time.Second, func() bool {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return bytes.Contains(b, []byte(`title="deb:shadow-tool"`))
	})
	toProm := waitFor(t, "series in Prometheus", 10*time.Second, func() bool { return len(samples(t, prom, info)) == 1 })
	toProm += toCollector
	const alert = `ALERTS{alertname="OnusUnownedSoftwareInstalled",title="deb:shadow-tool"`
	toPending := waitFor(t, "alert pending", 10*time.Second, func() bool {
		return len(samples(t, prom, alert+`,alertstate="pending"}`)) == 1
	})
	toPending += toProm
	t.Logf("install → collector metric %.3fs → Prometheus %.3fs → alert OnusUnownedSoftwareInstalled pending %.3fs "+
		"(it fires after the rule's for: 1m more, about %.0fs after install)", toCollector.Seconds(), toProm.Seconds(), toPending.Seconds(), toPending.Seconds()+60)

	// Every panel query returns data; every rule expression parses. A rate needs two scrapes
	// in its window: wait for a few.
	waitFor(t, "scrapes for rates", 10*time.Second, func() bool {
		s := samples(t, prom, `count_over_time(up{job="onus-collector"}[`+rateWindow+`])`)
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
			r := query(t, prom, expr)
			switch {
			case r.Status != "success":
				t.Errorf("%s: %s: %s: %s", q.where, expr, r.ErrorType, r.Error)
			case !nonEmpty(r):
				t.Errorf("%s: %s: no data", q.where, expr)
			}
		}
	}
	for _, q := range ruleExprs(t, filepath.Join("..", "..", "deploy", "prometheus", "onus-rules.yml")) {
		n++
		if r := query(t, prom, q.expr); r.Status != "success" {
			t.Errorf("%s: %s: %s: %s", q.where, q.expr, r.ErrorType, r.Error)
		}
	}
	// Prometheus itself evaluates the rules without errors.
	var rules struct {
		Data struct {
			Groups []struct {
				Name  string
				Rules []struct{ Name, Health, LastError string }
			}
		}
	}
	resp, err := http.Get(prom + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&rules)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range rules.Data.Groups {
		for _, r := range g.Rules {
			if r.Health == "err" {
				t.Errorf("rule %s/%s: %s", g.Name, r.Name, r.LastError)
			}
		}
	}
	t.Logf("%d dashboard and rule queries checked", n)

	// An owner rule for the title: the info series disappears and the alert resolves.
	owned := time.Now()
	applyRegistry(t, base, registry+ownedRule)
	gone := waitFor(t, "series gone from Prometheus", 10*time.Second, func() bool { return len(samples(t, prom, info)) == 0 })
	waitFor(t, "alert resolved", 10*time.Second, func() bool { return len(samples(t, prom, alert+"}")) == 0 })
	t.Logf("owner rule applied → series gone from Prometheus %.3fs, alert gone %.3fs after apply", gone.Seconds(), time.Since(owned).Seconds())
	t.Logf("total %.2fs", time.Since(begin).Seconds())
}
