package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/wait"
)

// TestEtcdQuorum runs two collector replicas on a 3-member etcd cluster with four real
// onus-agents (two on each replica) whose fixture hosts install and remove packages the way
// dpkg does, and takes the cluster apart:
//
//   - the leader killed: every change still reaches both replicas (retries at most);
//   - a second member killed, quorum lost: the collectors answer writes 503 with Retry-After
//     within a deadline, /readyz fails on both, the agents keep their events in the journal;
//   - both members back: every event made during the outage is on both replicas with its
//     original time, and both replicas answer the same.
func TestEtcdQuorum(t *testing.T) {
	bin := binDir(t)
	cl := newCluster(t, bin, 3, 0)
	cols := []*collector{
		newCollector(t, bin, "collector1", "", cl.endpoints),
		newCollector(t, bin, "collector2", "", cl.endpoints),
	}
	for _, c := range cols {
		c.Start(t)
	}
	for _, c := range cols {
		c.waitReady(t, 60*time.Second)
	}
	var agents []*agent
	for i := range 4 {
		a := newAgent(t, bin, fmt.Sprintf("chaos-host-%d", i+1), fmt.Sprintf("%032x", 0xc4a05000+i), cols[i%2].url)
		a.Start(t)
		agents = append(agents, a)
	}
	everywhere := func(what string, timeout time.Duration, cond func(*hostDetail) (bool, string)) time.Duration {
		t.Helper()
		return wait.For(t, timeout, what, func() (bool, string) {
			for _, c := range cols {
				for _, a := range agents {
					d, ok := getHost(c.url, a.id)
					if !ok {
						return false, fmt.Sprintf("%s: no host %s yet", c.name, a.id)
					}
					if ok, why := cond(d); !ok {
						return false, fmt.Sprintf("%s: host %s: %s", c.name, a.id, why)
					}
				}
			}
			return true, ""
		})
	}
	everywhere("every host's first report on both replicas", 60*time.Second, func(d *hostDetail) (bool, string) {
		return has(d, "deb:curl"), "no deb:curl yet"
	})
	counts := newCounter(t, cols, agents)

	// One member down, the leader: a majority is left.
	lead := cl.leader(t)
	cl.members[lead].Kill(t)
	at1 := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	for _, a := range agents {
		fixture.DpkgInstall(t, a.root, "member-down-tool", "1.0-1", at1)
	}
	took := everywhere("the install made with one member down on both replicas", 60*time.Second, func(d *hostDetail) (bool, string) {
		for _, e := range d.Events {
			if e.Type == protocol.EventInstalled && e.Name == "member-down-tool" {
				return e.Time.Equal(at1), fmt.Sprintf("member-down-tool installed at %s, want dpkg's time %s", e.Time, at1)
			}
		}
		return false, fmt.Sprintf("no install event of member-down-tool: %v", eventKeys(d.Events))
	})
	figure(t, "one member (the leader, %s) killed: installs on both replicas %s after the kill; %s", cl.members[lead].name,
		took.Round(10*time.Millisecond), counts.delta(t))
	for _, c := range cols {
		if ok, why := c.ready(); !ok {
			t.Errorf("%s not ready with 2 of 3 members: %s", c.name, why)
		}
	}

	// A second member down: no quorum.
	var second int
	for i, m := range cl.members {
		if m.running() {
			second = i
			break
		}
	}
	cl.members[second].Kill(t)
	lost := time.Now()
	for _, c := range cols {
		_, failed := wait.Eventually(t, 30*time.Second, c.name+" /readyz failing without quorum", func() (bool, string) {
			ok, why := c.ready()
			return !ok, why
		})
		if failed {
			figure(t, "quorum lost: %s /readyz fails %s after the second kill", c.name, time.Since(lost).Round(100*time.Millisecond))
		} else {
			figure(t, "quorum lost: %s /readyz still 200 %s after the second kill", c.name, time.Since(lost).Round(100*time.Millisecond))
		}
	}
	for i, c := range cols {
		body, _ := json.Marshal(protocol.EnrollRequest{EnrollSecret: enrollSecret, HostID: fmt.Sprintf("%032x", 0xdead0000+i),
			Hostname: "chaos-probe", AgentVersion: "chaos"})
		start := time.Now()
		a := do("POST", c.url+protocol.PathEnroll, "", body)
		took := time.Since(start)
		figure(t, "quorum lost: an enrollment at %s answered %s (Retry-After %q) in %s: %s", c.name, a.statusName(), a.retryAfter,
			took.Round(10*time.Millisecond), strings.TrimSpace(string(a.body)))
		if a.err != nil || a.status != http.StatusServiceUnavailable || a.retryAfter == "" {
			t.Errorf("%s: a write without quorum answered %s (Retry-After %q, %v), want 503 with Retry-After", c.name, a.statusName(), a.retryAfter, a.err)
		}
	}
	at2 := time.Now().Add(-2 * time.Minute).UTC().Truncate(time.Second)
	removedFrom := time.Now()
	for _, a := range agents {
		fixture.DpkgInstall(t, a.root, "outage-tool", "2.0-1", at2)
	}
	time.Sleep(1500 * time.Millisecond) // a separate change, noticed on its own
	for _, a := range agents {
		fixture.DpkgRemove(t, a.root, "curl")
	}
	for _, a := range agents {
		wait.Eventually(t, 30*time.Second, a.name+" keeping the outage's events in its journal", func() (bool, string) {
			n, _ := a.metric("onus_agent_journal_events")
			return n >= 2, fmt.Sprintf("onus_agent_journal_events %v", n)
		})
	}
	time.Sleep(5 * time.Second) // the agents retry against the collectors without quorum meanwhile
	for _, c := range cols {
		if ok, _ := c.ready(); ok {
			t.Errorf("%s ready again without quorum", c.name)
		}
	}
	figure(t, "quorum lost for %s: %s", time.Since(lost).Round(100*time.Millisecond), counts.delta(t))

	// Quorum back.
	back := time.Now()
	cl.members[lead].Start(t)
	cl.members[second].Start(t)
	cl.waitHealthy(t, 60*time.Second)
	for _, c := range cols {
		c.waitReady(t, 60*time.Second)
	}
	ready := time.Since(back)
	missing := map[string]bool{}
	took = everywhere("every event of the outage on both replicas with its time", 120*time.Second, func(d *hostDetail) (bool, string) {
		got := map[string]protocol.Event{}
		for _, e := range d.Events {
			got[e.Type+" "+e.Name] = e
		}
		install, ok1 := got["installed outage-tool"]
		remove, ok2 := got["removed curl"]
		switch {
		case !ok1 || !ok2:
			for _, k := range []string{"installed outage-tool", "removed curl"} {
				if _, ok := got[k]; !ok {
					missing[d.ID+" "+k] = true
				}
			}
			return false, fmt.Sprintf("events %v", eventKeys(d.Events))
		case !install.Time.Equal(at2):
			return false, fmt.Sprintf("outage-tool installed at %s, want dpkg's time %s", install.Time, at2)
		case remove.Time.Before(removedFrom.Add(-time.Second)) || !remove.Time.Before(back):
			return false, fmt.Sprintf("curl removed at %s, want during the outage (%s to %s)", remove.Time, removedFrom, back)
		}
		delete(missing, d.ID+" installed outage-tool")
		delete(missing, d.ID+" removed curl")
		return !has(d, "deb:curl") && has(d, "deb:outage-tool"), "software not updated"
	})
	figure(t, "quorum back: replicas ready %s after the restart of the members, every outage event on both %s after it",
		ready.Round(10*time.Millisecond), took.Round(10*time.Millisecond))
	agree, _ := wait.Eventually(t, 60*time.Second, "both replicas answering the same", func() (bool, string) {
		return sameAnswers(cols[0].url, cols[1].url, agents)
	})
	figure(t, "quorum back: replicas agree %s after their readiness; events lost: %d; %s", agree.Round(10*time.Millisecond), len(missing), counts.delta(t))
	for _, a := range agents {
		if n, _ := a.metric("onus_agent_journal_dropped_events_total"); n != 0 {
			t.Errorf("%s dropped %v events from its journal", a.name, n)
		}
	}
}

func eventKeys(es []protocol.Event) []string {
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, e.Type+" "+e.Name)
	}
	return out
}

// sameAnswers compares what two replicas answer to the admin API and the inventory part of
// /metrics; it says where they first differ.
func sameAnswers(a, b string, agents []*agent) (bool, string) {
	paths := []string{"/api/v1/hosts?limit=5000", "/api/v1/software?min_hosts=0&limit=5000", "/api/v1/services?limit=5000", "/api/v1/coverage"}
	for _, ag := range agents {
		paths = append(paths, "/api/v1/hosts/"+ag.id)
	}
	for _, p := range paths {
		x, y := do("GET", a+p, adminToken, nil), do("GET", b+p, adminToken, nil)
		if x.err != nil || y.err != nil || x.status != http.StatusOK || y.status != http.StatusOK {
			return false, fmt.Sprintf("GET %s: %s and %s", p, x.statusName(), y.statusName())
		}
		if !bytes.Equal(x.body, y.body) {
			return false, fmt.Sprintf("GET %s differs: %s", p, firstDiff(x.body, y.body))
		}
	}
	x, y := inventoryMetrics(a), inventoryMetrics(b)
	if x != y {
		return false, "/metrics differ: " + firstDiff([]byte(x), []byte(y))
	}
	if strings.Count(x, "\n") < 10 {
		return false, "/metrics: too few inventory series: " + x
	}
	return true, ""
}

// inventoryMetrics returns the /metrics lines that describe the inventory (not the process).
func inventoryMetrics(base string) string {
	ans := do("GET", base+"/metrics", adminToken, nil)
	var out []string
	for _, l := range strings.Split(string(ans.body), "\n") {
		for _, p := range []string{"onus_assets", "onus_ownership_", "onus_owner_", "onus_hosts", "onus_software_", "onus_fleet_"} {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n") + "\n"
}

func firstDiff(x, y []byte) string {
	i := 0
	for i < len(x) && i < len(y) && x[i] == y[i] {
		i++
	}
	cut := func(b []byte) string { return string(b[max(0, i-60):min(len(b), i+60)]) }
	return fmt.Sprintf("at byte %d: %q vs %q", i, cut(x), cut(y))
}

// hostDetail is the part of GET /api/v1/hosts/{id} the scenarios read.
type hostDetail struct {
	ID       string `json:"id"`
	Hash     string `json:"hash"`
	Software []struct {
		Title string `json:"title"`
	} `json:"software"`
	Events []protocol.Event `json:"events"`
}

func getHost(base, id string) (*hostDetail, bool) {
	a := do("GET", base+"/api/v1/hosts/"+id, adminToken, nil)
	if a.err != nil || a.status != http.StatusOK {
		return nil, false
	}
	var d hostDetail
	if err := json.Unmarshal(a.body, &d); err != nil {
		return nil, false
	}
	return &d, true
}

func has(d *hostDetail, title string) bool {
	for _, s := range d.Software {
		if s.Title == title {
			return true
		}
	}
	return false
}

// counter reads the collectors' and the agents' report counters by result, to print what
// changed in each step.
type counter struct {
	cols   []*collector
	agents []*agent
	last   map[string]float64
}

func newCounter(t *testing.T, cols []*collector, agents []*agent) *counter {
	c := &counter{cols: cols, agents: agents}
	c.last = c.read(t)
	return c
}

func (c *counter) read(t *testing.T) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	add := func(prefix string, text []byte, name string) {
		for _, l := range strings.Split(string(text), "\n") {
			if !strings.HasPrefix(l, name+"{") {
				continue
			}
			_, rest, _ := strings.Cut(l, `result="`)
			res, _, _ := strings.Cut(rest, `"`)
			if v, ok := metric([]byte(l), name); ok && res != "" {
				out[prefix+res] += v
			}
		}
	}
	for _, col := range c.cols {
		add("collector ", col.metrics(t), "onus_collector_reports_total")
	}
	for _, a := range c.agents {
		ans := do("GET", a.metricsURL, "", nil)
		add("agent ", ans.body, "onus_agent_reports_total")
	}
	return out
}

// retryable are the results of reports that the agent sends again: the store's or the
// network's failures, not a refusal or a forgotten state.
var retryable = map[string]bool{"agent accepted": true, "agent duplicate": true, "agent unavailable": true, "agent error": true,
	"collector accepted": true, "collector duplicate": true, "collector error": true}

// delta says how the counts changed since the last call: reports by result as the
// collectors and the agents counted them. A result other than an acceptance or a failure
// worth a retry fails the test.
func (c *counter) delta(t *testing.T) string {
	t.Helper()
	now := c.read(t)
	d := map[string]int{}
	for k, v := range now {
		if n := int(v - c.last[k]); n != 0 {
			d[k] = n
			if !retryable[k] {
				t.Errorf("%d reports with result %q: beyond retries", n, k)
			}
		}
	}
	c.last = now
	return "reports by result: " + formatCounts(d)
}
