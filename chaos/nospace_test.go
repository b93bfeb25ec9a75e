package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/wait"
	"github.com/onus-project/onus/loadgen"
)

// quota is the backend quota of the out-of-space scenario's cluster: a few times what its
// fleet holds live, so that the history of its deltas fills it within seconds and a
// compaction gives the room back.
const quota = 12 << 20

// TestEtcdNoSpace fills a 3-member etcd cluster with a small --quota-backend-bytes through a
// collector, with the load generator's deltas, until etcd raises its NOSPACE alarm: see
// noSpace for what must hold.
func TestEtcdNoSpace(t *testing.T) {
	bin := binDir(t)
	cl := newCluster(t, bin, 3, quota)
	col := newCollector(t, bin, "collector", "", cl.endpoints)
	noSpace(t, bin, col, strings.Join(cl.endpoints, ","))
}

// TestEmbeddedNoSpace is the same with the collector's embedded etcd and its
// --etcd-quota-bytes, recovered through the socket file in its data directory as the
// runbook says.
func TestEmbeddedNoSpace(t *testing.T) {
	bin := binDir(t)
	data := t.TempDir()
	col := newCollector(t, bin, "collector", data, nil, "--etcd-quota-bytes", strconv.Itoa(quota))
	noSpace(t, bin, col, "unix://"+filepath.Join(data, "etcd", "client.sock"))
}

// noSpace starts col and fills its store with the load generator's deltas until etcd
// raises its NOSPACE alarm. Then the collector must answer writes 503 with Retry-After and
// a message naming the lack of space, fail /readyz, and expose the metrics the
// OnusStoreNoSpace alert reads. The recovery is the runbook's own commands, run as they are
// written there against endpoints with the etcdctl built from the same etcd version; after
// it the reports refused meanwhile and a new round of the fleet are accepted, every report
// answered 200 is in the store, and no delta is answered need_full.
func noSpace(t *testing.T, bin string, col *collector, endpoints string) {
	t.Helper()
	etcdctl := filepath.Join(bin, "etcdctl")
	if _, err := os.Stat(etcdctl); err != nil {
		t.Fatalf("%v (make chaos builds it)", err)
	}
	resolve := runbookResolve(t)
	col.Start(t)
	col.waitReady(t, 60*time.Second)

	const hosts = 150
	g, err := loadgen.New(loadgen.Options{URL: col.url, InsecureHTTP: true, EnrollSecret: enrollSecret, Hosts: hosts,
		Concurrency: 16, MinPackages: 300, MaxPackages: 1500, Pool: 3000, Churn: 1, Interval: -1, Seed: 13,
		MaxRetries: 30, BackoffMin: 100 * time.Millisecond, BackoffMax: 2 * time.Second, HTTPTimeout: 20 * time.Second,
		Drain: 4 * time.Minute, NoMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Minute)
	defer cancel()
	if st := g.Enroll(ctx); st.Done != hosts {
		t.Fatalf("enrolled %d of %d hosts: %s", st.Done, hosts, formatCounts(st.Statuses))
	}
	if st := g.RampUp(ctx); st.Done != hosts {
		t.Fatalf("%d of %d full reports accepted before the quota was reached: %s (the quota is too small for the fleet)",
			st.Done, hosts, formatCounts(st.Statuses))
	}

	// Deltas until NOSPACE: every delta rewrites a host's record, and the history stays
	// until a compaction. The round under way when the alarm comes is not cut short: its
	// reports are answered 503 with Retry-After and sent again after the recovery, so that
	// every report's fate is known to the generator.
	var stop atomic.Bool
	filled := make(chan map[string]int64, 1)
	start := time.Now()
	go func() {
		statuses := map[string]int64{}
		for !stop.Load() && ctx.Err() == nil {
			for k, v := range g.Steady(ctx, 1, 0).Statuses {
				statuses[k] += v
			}
		}
		filled <- statuses
	}()
	if _, ok := wait.Eventually(t, 3*time.Minute, "etcd's NOSPACE alarm seen by the collector", func() (bool, string) {
		v, _ := metric(col.metrics(t), "onus_collector_store_nospace")
		return v == 1, fmt.Sprintf("onus_collector_store_nospace %v", v)
	}); !ok {
		t.FailNow()
	}
	stop.Store(true)
	figure(t, "quota of %d MiB full after %s of deltas", quota>>20, time.Since(start).Round(100*time.Millisecond))

	// What the collector says while etcd takes no writes.
	body, _ := json.Marshal(protocol.EnrollRequest{EnrollSecret: enrollSecret, HostID: fmt.Sprintf("%032x", 0xfeed0000),
		Hostname: "chaos-probe", AgentVersion: "chaos"})
	t0 := time.Now()
	a := do("POST", col.url+protocol.PathEnroll, "", body)
	figure(t, "NOSPACE: an enrollment answered %s (Retry-After %q) in %s: %s", a.statusName(), a.retryAfter,
		time.Since(t0).Round(time.Millisecond), strings.TrimSpace(string(a.body)))
	if a.err != nil || a.status != http.StatusServiceUnavailable || a.retryAfter == "" || !strings.Contains(strings.ToLower(string(a.body)), "space") {
		t.Errorf("a write under NOSPACE answered %s (Retry-After %q): %s; want 503 with Retry-After saying the store is out of space",
			a.statusName(), a.retryAfter, a.body)
	}
	if ok, why := col.ready(); ok {
		t.Errorf("/readyz answers %s under NOSPACE", why)
	}
	m := col.metrics(t)
	errs, _ := metric(m, "onus_collector_store_errors_total", `reason="nospace"`)
	figure(t, "NOSPACE: onus_collector_store_nospace 1, onus_collector_store_errors_total{reason=\"nospace\"} %v", errs)
	if errs == 0 {
		t.Error(`onus_collector_store_errors_total{reason="nospace"} did not count the refused writes`)
	}
	alertInputs(t, m, "OnusStoreNoSpace")

	// The runbook's recovery.
	t0 = time.Now()
	cmd := exec.Command("sh", "-ec", resolve)
	cmd.Env = append(os.Environ(), "EP="+endpoints, "PATH="+bin+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	t.Logf("the runbook's Resolve commands:\n%s\n%s", resolve, out)
	if err != nil {
		t.Fatalf("the runbook's Resolve commands failed: %v", err)
	}
	ran := time.Since(t0)
	alarms, err := exec.Command(etcdctl, "--endpoints", endpoints, "alarm", "list").CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(alarms))) != 0 {
		t.Errorf("etcdctl alarm list after the runbook's commands: %v %s", err, alarms)
	}
	status, _ := exec.Command(etcdctl, "--endpoints", endpoints, "endpoint", "status", "-w", "table").CombinedOutput()
	t.Logf("after the recovery:\n%s", status)
	ready := col.waitReady(t, 60*time.Second)
	figure(t, "recovery: the runbook's commands ran in %s, the collector ready %s later", ran.Round(10*time.Millisecond), ready.Round(10*time.Millisecond))

	// The round caught by the alarm ends once its reports, sent again, are accepted; then
	// the whole fleet reports once more. What was answered 200 is still there, and no delta
	// finds the collector without the state it accepted before.
	var statuses map[string]int64
	select {
	case statuses = <-filled:
	case <-time.After(3 * time.Minute):
		t.Fatal("the reports refused under NOSPACE were not accepted within 3 minutes of the recovery")
	}
	figure(t, "the rounds of deltas, NOSPACE and its recovery included: answers %s", formatCounts(statuses))
	st := g.Steady(ctx, 1, 0)
	figure(t, "after recovery: a round of %d turns, %d accepted, answers %s", st.Jobs, st.Done, formatCounts(st.Statuses))
	if st.Done != st.Jobs {
		t.Errorf("after recovery: %d of %d turns accepted", st.Done, st.Jobs)
	}
	for k, v := range st.Statuses {
		statuses[k] += v
	}
	lost := compareHashes(t, col, g.Hosts())
	needFull := statuses[loadgen.StatusNeedFull] + statuses[loadgen.StatusMismatch]
	figure(t, "reports lost over the scenario: %d, need_full: %d", lost, needFull)
	if lost != 0 {
		t.Errorf("%d accepted reports lost", lost)
	}
	if needFull != 0 {
		t.Errorf("%d deltas answered need_full: the collector lacked a state it had accepted", needFull)
	}
	if v, _ := metric(col.metrics(t), "onus_collector_store_nospace"); v != 0 {
		t.Errorf("onus_collector_store_nospace %v after the recovery", v)
	}
}

// runbookResolve returns the shell commands of the runbook's OnusStoreNoSpace "Resolve"
// step: the scenario runs the documented recovery, not a copy of it.
func runbookResolve(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## OnusStoreNoSpace\n")
	if ok {
		sec, _, _ = strings.Cut(sec, "\n## ")
		_, sec, ok = strings.Cut(sec, "**Resolve.**")
	}
	if ok {
		_, sec, ok = strings.Cut(sec, "```sh\n")
	}
	if ok {
		sec, _, ok = strings.Cut(sec, "```")
	}
	if !ok || !strings.Contains(sec, "etcdctl") {
		t.Fatal("docs/runbook.md: no etcdctl commands in a ```sh block of OnusStoreNoSpace's Resolve step")
	}
	return sec
}

// alertInputs checks that every metric the named alert's expression reads is exposed by the
// collector, and that the gauges it compares are set: the alert has what it needs to fire.
func alertInputs(t *testing.T, metrics []byte, alert string) {
	t.Helper()
	b, err := os.ReadFile("../deploy/prometheus/onus-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	expr := ""
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == alert {
				expr = r.Expr
			}
		}
	}
	if expr == "" {
		t.Errorf("deploy/prometheus/onus-rules.yml has no alert %s", alert)
		return
	}
	var names []string
	for _, f := range strings.FieldsFunc(expr, func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}) {
		if strings.HasPrefix(f, "onus_") {
			names = append(names, f)
		}
	}
	if len(names) == 0 {
		t.Errorf("%s reads no onus_ metric: %s", alert, expr)
	}
	for _, n := range names {
		v, ok := metric(metrics, n)
		if !ok || v == 0 {
			t.Errorf("%s reads %s, which the collector exposes as %v (present %v) under NOSPACE", alert, n, v, ok)
		}
	}
	figure(t, "NOSPACE: %s's inputs %s all set", alert, strings.Join(names, ", "))
}
