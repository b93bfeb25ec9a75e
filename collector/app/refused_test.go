package app

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/wait"
)

// refusalView is what the API shows of a refusal.
type refusalView struct {
	At     time.Time `json:"at"`
	Since  time.Time `json:"since"`
	Status int       `json:"status"`
	Reason string    `json:"reason"`
	Kind   string    `json:"kind"`
	Seq    uint64    `json:"seq"`
}

type statusView struct {
	LastSeen time.Time    `json:"seen"`
	Seq      uint64       `json:"seq"`
	Refused  *refusalView `json:"refused"`
}

type hostStatusView struct {
	ID       string      `json:"id"`
	Hostname string      `json:"hostname"`
	NoRecord bool        `json:"no_record"`
	Status   *statusView `json:"status"`
}

// hostStatus returns the status of a host as GET /api/v1/hosts/{id} shows it.
func hostStatus(t *testing.T, url, id string) *statusView {
	t.Helper()
	var h hostStatusView
	if code := call(t, "GET", url+"/api/v1/hosts/"+id, admin, nil, false, &h); code != 200 {
		t.Fatalf("GET host %s: %d", id, code)
	}
	return h.Status
}

// listed returns the hosts of GET /api/v1/hosts with the query q.
func listed(t *testing.T, url, q string) []hostStatusView {
	t.Helper()
	var l struct {
		Items []hostStatusView `json:"items"`
	}
	if code := call(t, "GET", url+"/api/v1/hosts"+q, admin, nil, false, &l); code != 200 {
		t.Fatalf("GET hosts%s: %d", q, code)
	}
	return l.Items
}

// refuse sends a report the collector must refuse and returns the answer's status and error.
func refuse(t *testing.T, url, cred, encoding string, body []byte) (int, string) {
	t.Helper()
	var e protocol.ErrorResponse
	code := callEncoded(t, "POST", url+protocol.PathReport, cred, body, encoding, &e)
	return code, e.Error
}

func gaugeValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestRefusedReports feeds a collector with an embedded etcd, over real HTTP, reports it
// refuses from enrolled hosts: a full report whose hash does not match its state, a report
// of an unknown kind, a body in an encoding it does not read, and the first report of a host
// that never had one accepted. Each refusal shows, after a status flush, in the host's
// record, the host list, `hosts list` and the metrics; an accepted report clears it;
// reports with an unknown credential are nobody's refusal.
func TestRefusedReports(t *testing.T) {
	var ahead atomic.Int64 // how far the metrics' clock runs ahead of the wall clock
	c := start(t, Options{DataDir: t.TempDir(), StaleTolerated: 4,
		Now: func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }})
	g := gatherer(c)
	if v := gaugeValue(t, g, "onus_hosts_stale_tolerated"); v != 4 {
		t.Errorf("onus_hosts_stale_tolerated = %v, want the configured 4", v)
	}
	inv := fixture.Golden(t, "debian12")
	id := inv.Host.ID
	cred := enroll(t, c.url, id)
	full, _ := fullReport(inv, 1)
	report(t, c.url, cred, full)
	wait.Until(t, 10*time.Second, "the accepted report's status", func() bool { s := hostStatus(t, c.url, id); return s != nil && s.Seq == 1 })
	if s := hostStatus(t, c.url, id); s.Refused != nil {
		t.Fatalf("refusal %+v before any refused report", s.Refused)
	}

	// A full report whose hash is not its state's: refused, 400.
	before := time.Now().UTC().Truncate(time.Second)
	bad, _ := fullReport(inv, 2)
	bad.Hash = strings.Repeat("ab", 32)
	code, msg := refuse(t, c.url, cred, "gzip", marshal(t, bad))
	if code != 400 || !strings.Contains(msg, "hash") {
		t.Fatalf("bad hash: %d %q, want 400 naming the hash", code, msg)
	}
	var first *refusalView
	wait.Until(t, 10*time.Second, "the refusal in the host's record", func() bool {
		first = hostStatus(t, c.url, id).Refused
		return first != nil
	})
	if first.Status != 400 || first.Reason != msg || first.Kind != protocol.KindFull || first.Seq != 2 ||
		first.Since.Before(before) || !first.At.Equal(first.Since) {
		t.Errorf("refusal %+v, want 400 %q, full report seq 2, since and at the refusal (not before %v)", first, msg, before)
	}
	if s := hostStatus(t, c.url, id); s.Seq != 1 || s.LastSeen.IsZero() {
		t.Errorf("status %+v: the last accepted report (seq 1) must stay", s)
	}

	// Later refusals keep the first one's time: one of an unknown kind, one the HTTP layer
	// cannot decode (its kind and seq unknown).
	time.Sleep(1100 * time.Millisecond)
	odd, _ := fullReport(inv, 3)
	odd.Kind = "snapshot"
	if code, msg := refuse(t, c.url, cred, "gzip", marshal(t, odd)); code != 400 || !strings.Contains(msg, "kind") {
		t.Fatalf("bad kind: %d %q", code, msg)
	}
	wait.Until(t, 10*time.Second, "the second refusal", func() bool { r := hostStatus(t, c.url, id).Refused; return r != nil && r.Seq == 3 })
	if r := hostStatus(t, c.url, id).Refused; r.Kind != "invalid" || !r.Since.Equal(first.Since) || !r.At.After(first.At) {
		t.Errorf("second refusal %+v, want kind invalid, since %v, at after %v", r, first.Since, first.At)
	}
	code, msg = refuse(t, c.url, cred, "br", marshal(t, full))
	if code != 415 {
		t.Fatalf("unknown encoding: %d %q, want 415", code, msg)
	}
	wait.Until(t, 10*time.Second, "the refusal of the undecodable report", func() bool { r := hostStatus(t, c.url, id).Refused; return r != nil && r.Status == 415 })
	if r := hostStatus(t, c.url, id).Refused; r.Reason != msg || !r.Since.Equal(first.Since) {
		t.Errorf("refusal %+v, want reason %q since %v", r, msg, first.Since)
	}

	// The host list shows it, and lists it alone when asked for refused hosts.
	other := fixture.Golden(t, "rocky9")
	otherCred := enroll(t, c.url, other.Host.ID)
	otherFull, _ := fullReport(other, 1)
	report(t, c.url, otherCred, otherFull)
	wait.Until(t, 10*time.Second, "both hosts listed", func() bool { return len(listed(t, c.url, "")) == 2 })
	for _, h := range listed(t, c.url, "") {
		if refused := h.Status != nil && h.Status.Refused != nil; refused != (h.ID == id) {
			t.Errorf("host list: %s refused %v", h.ID, refused)
		}
	}
	if l := listed(t, c.url, "?refused=true"); len(l) != 1 || l[0].ID != id || l[0].Status.Refused.Status != 415 {
		t.Errorf("refused hosts %+v, want %s alone", l, id)
	}
	var e protocol.ErrorResponse
	if code := call(t, "GET", c.url+"/api/v1/hosts?refused=maybe", admin, nil, false, &e); code != 400 || !strings.Contains(e.Error, "refused") {
		t.Errorf("refused=maybe: %d %q, want 400", code, e.Error)
	}
	out := hostsCLI(t, c.url, 0, "list")
	wantCell := "415 since " + first.Since.Format(time.RFC3339) + ": " + msg
	if lines := strings.Split(out, "\n"); !strings.Contains(lines[0], "REFUSED") || !strings.Contains(out, wantCell) {
		t.Errorf("hosts list:\n%s\nwant a REFUSED column with %q", out, wantCell)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, other.Host.ID) && !strings.HasSuffix(strings.TrimSpace(line), "-") {
			t.Errorf("hosts list: %q, want no refusal for %s", line, other.Host.ID)
		}
	}
	if out := hostsCLI(t, c.url, 0, "list", "--refused"); !strings.Contains(out, id) || strings.Contains(out, other.Host.ID) {
		t.Errorf("hosts list --refused:\n%s", out)
	}
	var items []hostStatusView
	if err := json.Unmarshal([]byte(hostsCLI(t, c.url, 0, "list", "--refused", "--json")), &items); err != nil ||
		len(items) != 1 || items[0].Status.Refused == nil || items[0].Status.Refused.Reason != msg {
		t.Errorf("hosts list --refused --json: %+v (%v)", items, err)
	}

	// An enrolled host whose very first report is refused has no record, but counts.
	third := fixture.Golden(t, "arch")
	thirdCred := enroll(t, c.url, third.Host.ID)
	thirdFull, _ := fullReport(third, 1)
	thirdFull.State.Software[0].Name = "changed-after-hashing"
	if code, _ := refuse(t, c.url, thirdCred, "gzip", marshal(t, thirdFull)); code != 400 {
		t.Fatalf("third host's bad hash: %d", code)
	}
	// Unknown or stolen-looking credentials count for nobody.
	for _, cr := range []string{"nobody.abc", id + ".not-its-credential"} {
		if code, _ := refuse(t, c.url, cr, "gzip", marshal(t, bad)); code != 401 {
			t.Fatalf("credential %q: %d, want 401", cr, code)
		}
	}
	waitMetrics(t, g, `onus_hosts_refused 2`, "onus_hosts_refused")
	// It is listed, marked as having no record, and its record's 404 says why.
	l := listed(t, c.url, "?refused=true")
	if len(l) != 2 || l[1].ID != third.Host.ID && l[0].ID != third.Host.ID {
		t.Fatalf("refused hosts %+v, want %s and %s", l, id, third.Host.ID)
	}
	for _, h := range l {
		if h.NoRecord != (h.ID == third.Host.ID) || h.Status.Refused == nil || h.Status.Refused.Status != map[bool]int{true: 400, false: 415}[h.NoRecord] {
			t.Errorf("refused host %+v", h)
		}
	}
	if l := listed(t, c.url, ""); len(l) != 3 {
		t.Errorf("host list: %d hosts, want 3, the one without a record included", len(l))
	}
	if code := call(t, "GET", c.url+"/api/v1/hosts/"+third.Host.ID, admin, nil, false, &e); code != 404 ||
		!strings.Contains(e.Error, "enrolled") || !strings.Contains(e.Error, "hash") {
		t.Errorf("GET the host without a record: %d %q, want 404 naming the refusal", code, e.Error)
	}
	if out := hostsCLI(t, c.url, 0, "list", "--refused"); !strings.Contains(out, third.Host.ID) || !strings.Contains(out, "400 since") {
		t.Errorf("hosts list --refused without the host that has no record:\n%s", out)
	}
	ahead.Store(int64(16 * time.Minute))
	longest := gaugeValue(t, g, "onus_hosts_refused_longest_seconds")
	if elapsed := time.Since(first.Since).Seconds(); longest < 16*60+elapsed-2 || longest > 16*60+elapsed+2 {
		t.Errorf("onus_hosts_refused_longest_seconds = %v, want 16 minutes after %v (%v)", longest, first.Since, 16*60+elapsed)
	}
	for status, want := range map[string]float64{"400": 3, "415": 1, "401": 0} {
		if v := counter(t, c.opts.Registerer.(*prometheus.Registry), "onus_collector_report_refusals_total", "status", status); v != want {
			t.Errorf("refusals with status %s: %v, want %v", status, v, want)
		}
	}

	// An accepted report clears the refusal.
	good, _ := fullReport(inv, 4)
	report(t, c.url, cred, good)
	wait.Until(t, 10*time.Second, "the refusal cleared", func() bool { s := hostStatus(t, c.url, id); return s.Refused == nil && s.Seq == 4 })
	if l := listed(t, c.url, "?refused=true"); len(l) != 1 || l[0].ID != third.Host.ID {
		t.Errorf("refused hosts after the accepted report: %+v, want the third host alone", l)
	}
	waitMetrics(t, g, `onus_hosts_refused 1`, "onus_hosts_refused")
	third1, _ := fullReport(third, 2)
	report(t, c.url, thirdCred, third1)
	wait.Until(t, 10*time.Second, "the third host's record", func() bool { s := hostStatus(t, c.url, third.Host.ID); return s != nil && s.Refused == nil })
	if l := listed(t, c.url, ""); len(l) != 3 || l[0].NoRecord || l[1].NoRecord || l[2].NoRecord {
		t.Errorf("host list after the accepted reports: %+v", l)
	}
	waitMetrics(t, g, "onus_hosts_refused 0\nonus_hosts_refused_longest_seconds 0", "onus_hosts_refused", "onus_hosts_refused_longest_seconds")
}

// TestRefusedAcrossReplicas: a refusal made on one replica shows on the other (it travels
// through the store's status shards) with the start of the episode kept whichever replica
// refuses next, survives a restart of the collector, and an accepted report clears it.
func TestRefusedAcrossReplicas(t *testing.T) {
	dir := t.TempDir()
	a := start(t, Options{DataDir: dir, EtcdClientURL: "http://127.0.0.1:0"})
	b := start(t, Options{EtcdEndpoints: []string{endpoint(t, a)}})
	inv := fixture.Golden(t, "debian12")
	id := inv.Host.ID
	cred := enroll(t, a.url, id)
	full, _ := fullReport(inv, 1)
	report(t, a.url, cred, full)

	bad, _ := fullReport(inv, 2)
	bad.State.Software = bad.State.Software[1:] // the hash is the whole state's
	code, msg := refuse(t, b.url, cred, "gzip", marshal(t, bad))
	if code != 400 {
		t.Fatalf("bad hash on the second replica: %d %q", code, msg)
	}
	var ref *refusalView
	wait.Until(t, 10*time.Second, "the second replica's refusal on the first", func() bool {
		if s := hostStatus(t, a.url, id); s != nil {
			ref = s.Refused
		}
		return ref != nil
	})
	if ref.Status != 400 || ref.Reason != msg || ref.Seq != 2 {
		t.Errorf("refusal on the first replica %+v, want 400 %q seq 2", ref, msg)
	}
	waitMetrics(t, gatherer(a), "onus_hosts_refused 1", "onus_hosts_refused")

	// Refused again on the first replica: one episode, its start kept.
	time.Sleep(1100 * time.Millisecond)
	bad.Seq = 3
	if code, _ := refuse(t, a.url, cred, "gzip", marshal(t, bad)); code != 400 {
		t.Fatalf("bad hash on the first replica: %d", code)
	}
	wait.Until(t, 10*time.Second, "the first replica's refusal on the second", func() bool {
		s := hostStatus(t, b.url, id)
		return s != nil && s.Refused != nil && s.Refused.Seq == 3
	})
	if r := hostStatus(t, b.url, id).Refused; !r.Since.Equal(ref.Since) || !r.At.After(ref.At) {
		t.Errorf("refusal %+v, want since %v kept", r, ref.Since)
	}

	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	again := start(t, Options{DataDir: dir})
	if s := hostStatus(t, again.url, id); s == nil || s.Refused == nil || s.Refused.Seq != 3 || !s.Refused.Since.Equal(ref.Since) {
		t.Fatalf("status after a restart %+v, want refused seq 3 since %v", s, ref.Since)
	}
	waitMetrics(t, gatherer(again), "onus_hosts_refused 1", "onus_hosts_refused")
	good, _ := fullReport(inv, 4)
	report(t, again.url, cred, good)
	wait.Until(t, 10*time.Second, "the refusal cleared", func() bool { return hostStatus(t, again.url, id).Refused == nil })
	waitMetrics(t, gatherer(again), "onus_hosts_refused 0\nonus_hosts_refused_longest_seconds 0", "onus_hosts_refused", "onus_hosts_refused_longest_seconds")
}

// TestRefusedTooLarge: a report body over the collector's compressed limit is refused with
// 413 before it is decoded, and kept as the host's refusal (without kind or seq).
func TestRefusedTooLarge(t *testing.T) {
	c := start(t, Options{DataDir: t.TempDir(), Limits: protocol.Limits{Compressed: 64 << 10, Decompressed: protocol.DefaultLimits.Decompressed}})
	inv := fixture.Golden(t, "debian12")
	cred := enroll(t, c.url, inv.Host.ID)
	full, _ := fullReport(inv, 1)
	report(t, c.url, cred, full)
	code, msg := refuse(t, c.url, cred, "gzip", bytes.Repeat([]byte{0x1f}, 65<<10))
	if code != 413 {
		t.Fatalf("a body over the limit: %d %q, want 413", code, msg)
	}
	wait.Until(t, 10*time.Second, "the 413 in the host's record", func() bool {
		s := hostStatus(t, c.url, inv.Host.ID)
		return s != nil && s.Refused != nil
	})
	if r := hostStatus(t, c.url, inv.Host.ID).Refused; r.Status != 413 || r.Reason != msg || r.Kind != "" || r.Seq != 0 {
		t.Errorf("refusal %+v, want 413 %q without kind or seq", r, msg)
	}
	waitMetrics(t, gatherer(c), "onus_hosts_refused 1", "onus_hosts_refused")
}
