package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/testutil/wait"
	"github.com/onus-project/onus/loadgen"
)

// TestCollectorKill9 kills the collector (embedded etcd) with SIGKILL twice while the load
// generator's fleet streams reports at it, first full reports, then deltas and heartbeats,
// and restarts it on the same data directory. Every report the collector answered 200 must
// be in its store afterwards: each host's hash, as listed by the restarted collector, is the
// hash of the host's last accepted report, and no delta is answered need_full (which would
// mean the collector forgot a state it had accepted).
func TestCollectorKill9(t *testing.T) {
	bin := binDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	col := newCollector(t, bin, "collector", t.TempDir(), nil)
	col.Start(t)
	col.waitReady(t, 60*time.Second)

	const hosts = 300
	g, err := loadgen.New(loadgen.Options{URL: col.url, InsecureHTTP: true, EnrollSecret: enrollSecret, Hosts: hosts,
		Concurrency: 16, MinPackages: 200, MaxPackages: 1200, Pool: 5000, Churn: 0.5, Interval: -1, Seed: 11,
		MaxRetries: 30, BackoffMin: 100 * time.Millisecond, BackoffMax: 2 * time.Second, HTTPTimeout: 20 * time.Second,
		Drain: 2 * time.Minute, NoMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	if st := g.Enroll(ctx); st.Done != hosts {
		t.Fatalf("enrolled %d of %d hosts: %s", st.Done, hosts, formatCounts(st.Statuses))
	}

	// Kill during the full reports, once a third of the fleet has been accepted.
	statuses := map[string]int64{}
	rampUp := killDuring(t, col, []string{"full"}, hosts/3, func() *loadgen.PhaseStats { return g.RampUp(ctx) })
	for k, v := range rampUp.Statuses {
		statuses[k] += v
	}
	for try := 0; try < 3 && ctx.Err() == nil; try++ { // hosts that gave up while the collector was away
		if n := len(g.Hosts()); n == hosts {
			break
		}
		st := g.RampUp(ctx)
		for k, v := range st.Statuses {
			statuses[k] += v
		}
	}
	lost := compareHashes(t, col, g.Hosts())
	figure(t, "full reports: %d hosts accepted of %d, answers %s", len(g.Hosts()), hosts, formatCounts(rampUp.Statuses))
	if len(g.Hosts()) != hosts {
		t.Errorf("%d hosts never accepted after the restart", hosts-len(g.Hosts()))
	}

	// Kill during a round of deltas and heartbeats, once a third of the fleet has reported.
	steady := killDuring(t, col, []string{"delta", "heartbeat"}, hosts/3, func() *loadgen.PhaseStats { return g.Steady(ctx, 1, 0) })
	for k, v := range steady.Statuses {
		statuses[k] += v
	}
	lost += compareHashes(t, col, g.Hosts())
	needFull := steady.Statuses[loadgen.StatusNeedFull] + steady.Statuses[loadgen.StatusMismatch]
	figure(t, "deltas and heartbeats: %d turns, %d accepted, answers %s", steady.Jobs, steady.Done, formatCounts(steady.Statuses))
	figure(t, "reports lost: %d (hosts whose stored hash is not their last accepted one), need_full after restart: %d", lost, needFull)
	figure(t, "answers by status over the scenario: %s", formatCounts(statuses))
	if lost != 0 {
		t.Errorf("%d accepted reports lost across kill -9", lost)
	}
	if needFull != 0 {
		t.Errorf("%d deltas answered need_full after the restart: the collector forgot states it had accepted", needFull)
	}
	if steady.Done != steady.Jobs {
		t.Errorf("steady round: %d of %d turns accepted", steady.Done, steady.Jobs)
	}
}

// killDuring runs phase while watching the collector's accepted reports of kinds;
// once after of them were accepted since the phase began, it kills the collector, starts
// it again on the same data directory and port, and reports how long it took to be ready.
func killDuring(t *testing.T, col *collector, kinds []string, after int, phase func() *loadgen.PhaseStats) *loadgen.PhaseStats {
	t.Helper()
	accepted := func() float64 {
		m := col.metrics(t)
		var n float64
		for _, kind := range kinds {
			v, _ := metric(m, "onus_collector_reports_total", `kind="`+kind+`"`, `result="accepted"`)
			n += v
		}
		return n
	}
	base := accepted()
	done := make(chan *loadgen.PhaseStats, 1)
	go func() { done <- phase() }()
	var seen float64
	wait.For(t, 2*time.Minute, fmt.Sprintf("%d reports accepted before the kill", after), func() (bool, string) {
		seen = accepted() - base
		return seen >= float64(after), fmt.Sprintf("%.0f accepted", seen)
	})
	killed := time.Now()
	col.Kill(t)
	col.Start(t)
	startup := col.waitReady(t, 90*time.Second)
	figure(t, "kill -9 after %.0f %s reports accepted: ready again %s after the kill (%s after the restart)",
		seen, strings.Join(kinds, "/"), time.Since(killed).Round(10*time.Millisecond), startup.Round(10*time.Millisecond))
	select {
	case st := <-done:
		return st
	case <-time.After(3 * time.Minute):
		t.Fatal("the phase did not end within 3 minutes of the restart")
		return nil
	}
}

// compareHashes lists the collector's hosts and counts the simulated hosts whose stored
// hash is not the hash of their last accepted report (or that are missing).
func compareHashes(t *testing.T, col *collector, want []loadgen.HostView) int {
	t.Helper()
	got := listHashes(t, col.url)
	lost := 0
	for _, h := range want {
		if have, ok := got[h.ID]; !ok || have != h.Hash {
			if lost++; lost <= 5 {
				t.Errorf("host %s: stored hash %q, last accepted %q", h.ID, have, h.Hash)
			}
		}
	}
	return lost
}

// listHashes returns every host's hash as the collector lists it.
func listHashes(t *testing.T, base string) map[string]string {
	t.Helper()
	out := map[string]string{}
	after := ""
	for {
		q := url.Values{"limit": {"5000"}}
		if after != "" {
			q.Set("continue", after)
		}
		a := do("GET", base+"/api/v1/hosts?"+q.Encode(), adminToken, nil)
		if a.err != nil || a.status != http.StatusOK {
			t.Fatalf("GET /api/v1/hosts: %s %s %v", a.statusName(), a.body, a.err)
		}
		var page struct {
			Items []struct {
				ID   string `json:"id"`
				Hash string `json:"hash"`
			} `json:"items"`
			Continue string `json:"continue"`
		}
		if err := json.Unmarshal(a.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			out[it.ID] = it.Hash
		}
		if page.Continue == "" {
			return out
		}
		after = page.Continue
	}
}

// TestCollectorKill9Loadgen is the same fault with the load generator as its own process,
// bin/onus-loadgen, as an operator would run it: the collector is killed during the full
// reports and restarted; the generator must end with its comparison of the collector's
// hosts and titles with what was accepted matching, no host given up, and no delta of its
// two rounds answered need_full (a full report accepted before the kill and lost would make
// the host's first delta need one).
func TestCollectorKill9Loadgen(t *testing.T) {
	bin := binDir(t)
	dir := t.TempDir()
	col := newCollector(t, bin, "collector", t.TempDir(), nil)
	col.Start(t)
	col.waitReady(t, 60*time.Second)
	const hosts = 300
	out := filepath.Join(dir, "loadgen.json")
	lg := newProc(t, "onus-loadgen", filepath.Join(bin, "onus-loadgen"), "--collector-url", col.url, "--insecure-http",
		"--enroll-secret-file", writeSecret(t, dir, "enroll-secret", enrollSecret), "--admin-token-file", writeSecret(t, dir, "admin-token", adminToken),
		"--hosts", strconv.Itoa(hosts), "--concurrency", "16", "--min-packages", "200", "--max-packages", "1200", "--pool", "5000",
		"--churn", "0.5", "--interval", "0", "--rounds", "2", "--seed", "12", "--progress", "0", "--json", out)
	lg.Start(t)
	killDuringProcess(t, col, lg, hosts/3)
	code := lg.Wait(t, 4*time.Minute)
	b, err := os.ReadFile(out)
	if err != nil {
		lg.dumpLog(t, 30)
		t.Fatalf("onus-loadgen exited %d without its JSON: %v", code, err)
	}
	var res loadgen.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	var needFull, gaveUp int64
	statuses := map[string]int64{}
	for _, ph := range res.Phases {
		gaveUp += ph.GaveUp
		for k, v := range ph.Statuses {
			statuses[k] += v
		}
		if ph.Name == loadgen.PhaseSteady {
			needFull += ph.Statuses[loadgen.StatusNeedFull] + ph.Statuses[loadgen.StatusMismatch]
		}
	}
	figure(t, "onus-loadgen exited %d; answers %s; gave up %d; need_full in the steady rounds %d", code, formatCounts(statuses), gaveUp, needFull)
	if res.Check == nil {
		t.Fatal("onus-loadgen wrote no comparison with the collector")
	}
	figure(t, "onus-loadgen's comparison: hosts %d listed of %d expected, %d of %d sampled titles matching, mismatches %d",
		res.Check.HostsFound, res.Check.HostsExpected, res.Check.TitlesMatched, res.Check.TitlesChecked, len(res.Check.Mismatches))
	if code != 0 || !res.Check.OK() || res.Check.HostsExpected != hosts {
		t.Errorf("onus-loadgen exited %d: comparison %+v", code, res.Check)
	}
	if needFull != 0 {
		t.Errorf("%d deltas answered need_full: the restarted collector lacked states it had accepted", needFull)
	}
	if gaveUp != 0 {
		t.Errorf("%d host turns given up", gaveUp)
	}
}

// killDuringProcess kills the collector once after full reports were accepted, while lg
// runs, and starts it again.
func killDuringProcess(t *testing.T, col *collector, lg *proc, after int) {
	t.Helper()
	var seen float64
	wait.For(t, 2*time.Minute, fmt.Sprintf("%d full reports accepted before the kill", after), func() (bool, string) {
		if lg.Exited() {
			lg.dumpLog(t, 30)
			t.Fatal("onus-loadgen ended before the kill")
		}
		seen, _ = metric(col.metrics(t), "onus_collector_reports_total", `kind="full"`, `result="accepted"`)
		return seen >= float64(after), fmt.Sprintf("%.0f accepted", seen)
	})
	killed := time.Now()
	col.Kill(t)
	col.Start(t)
	startup := col.waitReady(t, 90*time.Second)
	figure(t, "kill -9 after %.0f full reports accepted: ready again %s after the kill (%s after the restart)",
		seen, time.Since(killed).Round(10*time.Millisecond), startup.Round(10*time.Millisecond))
}
