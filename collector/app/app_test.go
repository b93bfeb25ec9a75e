package app

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/wait"
)

const (
	secret = "test-enroll-secret-0123456789"
	admin  = "test-admin-token-0123456789"
)

// running is a collector started for a test.
type running struct {
	*Collector
	url  string
	stop func() error
}

func start(t *testing.T, opts Options) *running {
	t.Helper()
	if opts.ListenAddress == "" {
		opts.ListenAddress = "127.0.0.1:0"
	}
	opts.InsecureHTTP = true
	opts.EnrollSecret, opts.AdminToken = secret, admin
	if opts.StatusFlushInterval == 0 {
		opts.StatusFlushInterval = 50 * time.Millisecond
	}
	opts.Registerer = prometheus.NewRegistry()
	opts.Gatherer = prometheus.Gatherers{prometheus.DefaultGatherer, opts.Registerer.(prometheus.Gatherer)}
	c, err := New(opts)
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
	ready := c.Ready()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("collector not ready")
	}
	stopped := false
	r := &running{Collector: c, url: "http://" + c.Addr()}
	r.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { r.stop() })
	return r
}

// call sends a request and decodes the JSON answer into out (if not nil), returning the status.
func call(t *testing.T, method, url, token string, body []byte, gz bool, out any) int {
	t.Helper()
	encoding := ""
	if gz {
		encoding = "gzip"
	}
	return callEncoded(t, method, url, token, body, encoding, out)
}

// callEncoded is call with the body's Content-Encoding (none if empty).
func callEncoded(t *testing.T, method, url, token string, body []byte, encoding string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	if resp.StatusCode >= 400 {
		var e protocol.ErrorResponse
		if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
			t.Errorf("%s %s: %d answer without a JSON error message: %s", method, url, resp.StatusCode, b)
		}
		if p, ok := out.(*protocol.ErrorResponse); ok {
			*p = e
		}
	}
	return resp.StatusCode
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := protocol.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func enroll(t *testing.T, url, hostID string) string {
	t.Helper()
	var resp protocol.EnrollResponse
	if code := call(t, "POST", url+protocol.PathEnroll, "", marshal(t, protocol.EnrollRequest{EnrollSecret: secret, HostID: hostID}), true, &resp); code != 200 {
		t.Fatalf("enroll: %d", code)
	}
	return resp.Credential
}

func fullReport(inv *model.Inventory, seq uint64) (*protocol.Report, protocol.State) {
	st, c := protocol.FromInventory(inv)
	return &protocol.Report{HostID: inv.Host.ID, Seq: seq, Kind: protocol.KindFull, SentAt: time.Now().UTC(), Hash: protocol.Hash(&st), State: &st, Capacity: c}, st
}

func report(t *testing.T, url, cred string, r *protocol.Report) protocol.ReportResponse {
	t.Helper()
	var resp protocol.ReportResponse
	if code := call(t, "POST", url+protocol.PathReport, cred, marshal(t, r), true, &resp); code != 200 {
		t.Fatalf("report seq %d: status %d", r.Seq, code)
	}
	return resp
}

type hostDetail struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname"`
	Hash     string `json:"hash"`
	Status   *struct {
		LastSeen time.Time `json:"seen"`
	} `json:"status"`
	Host     model.Host `json:"host"`
	Software []struct {
		Title       string    `json:"title"`
		Version     string    `json:"version"`
		Installed   bool      `json:"installed"`
		InstalledAt time.Time `json:"installed_at"`
		Summary     string    `json:"summary"`
	} `json:"software"`
	Events []protocol.Event `json:"events"`
}

type titles struct {
	Items []struct {
		Title          string    `json:"title"`
		Hosts          int       `json:"hosts"`
		InstalledHosts int       `json:"installed_hosts"`
		FirstSeen      time.Time `json:"first_seen"`
		FirstHost      string    `json:"first_host"`
	} `json:"items"`
	Continue string `json:"continue"`
}

// TestReportFlow runs enrollment, a full report, a delta with an install, a heartbeat and the
// error paths against a collector with an embedded etcd, over real HTTP.
func TestReportFlow(t *testing.T) {
	c := start(t, Options{DataDir: t.TempDir()})
	inv := fixture.Golden(t, "debian12")
	id := inv.Host.ID

	var e protocol.ErrorResponse
	if code := call(t, "POST", c.url+protocol.PathEnroll, "", marshal(t, protocol.EnrollRequest{EnrollSecret: "wrong-secret-0123456789", HostID: id}), true, &e); code != 401 {
		t.Fatalf("enroll with a wrong secret: %d", code)
	}
	cred := enroll(t, c.url, id)
	if !strings.HasPrefix(cred, id+".") {
		t.Fatalf("credential %q does not name its host", cred)
	}

	full, st := fullReport(inv, 1)
	resp := report(t, c.url, cred, full)
	if resp.Status != protocol.StatusAccepted || resp.Hash != full.Hash || resp.Seq != 1 {
		t.Fatalf("full report: %+v", resp)
	}
	var d hostDetail
	if code := call(t, "GET", c.url+"/api/v1/hosts/"+id, admin, nil, false, &d); code != 200 {
		t.Fatalf("host: %d", code)
	}
	if d.Hash != full.Hash || len(d.Software) != len(inv.Software) || d.Hostname != inv.Host.Hostname {
		t.Fatalf("host detail: hash %s, %d packages (want %d)", d.Hash, len(d.Software), len(inv.Software))
	}
	for _, s := range d.Software {
		if s.Installed {
			t.Fatalf("%s marked installed in the first report; want discovered", s.Title)
		}
	}
	if d.Software[0].Summary == "" {
		t.Errorf("%s has no summary from the title catalog", d.Software[0].Title)
	}
	// A retried report is a harmless duplicate.
	if resp := report(t, c.url, cred, full); !resp.Duplicate || resp.Hash != full.Hash {
		t.Fatalf("retried full report: %+v", resp)
	}

	// A package installed later: a delta with its event.
	installedAt := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	next := st
	next.Software = append(slices.Clone(st.Software), model.Package{Source: "deb", Name: "shadow-tool", Version: "1.0-1", Arch: "amd64",
		InstallTime: installedAt, PackageInfo: model.PackageInfo{Summary: "a tool nobody asked for"}})
	protocol.Normalize(&next)
	delta := protocol.Diff(&st, &next)
	events := protocol.Events(&st, &next, installedAt.Add(time.Minute))
	if len(events) != 1 || events[0].Type != protocol.EventInstalled {
		t.Fatalf("events: %+v", events)
	}
	dr := &protocol.Report{HostID: id, Seq: 2, Kind: protocol.KindDelta, SentAt: time.Now().UTC(), BaseHash: full.Hash,
		Hash: protocol.Hash(&next), Delta: delta, Events: events, Capacity: full.Capacity}
	if resp := report(t, c.url, cred, dr); resp.Status != protocol.StatusAccepted || resp.Hash != dr.Hash {
		t.Fatalf("delta: %+v", resp)
	}
	var sw titles
	call(t, "GET", c.url+"/api/v1/software?name=shadow-*", admin, nil, false, &sw)
	if len(sw.Items) != 1 || sw.Items[0].Hosts != 1 || sw.Items[0].InstalledHosts != 1 || !sw.Items[0].FirstSeen.Equal(installedAt) || sw.Items[0].FirstHost != id {
		t.Fatalf("software after install: %+v", sw)
	}
	call(t, "GET", c.url+"/api/v1/hosts/"+id, admin, nil, false, &d)
	if len(d.Events) != 1 || !d.Events[0].Time.Equal(installedAt) {
		t.Fatalf("host events: %+v", d.Events)
	}
	// New software since a time: only the new title.
	call(t, "GET", c.url+"/api/v1/software?installed=true", admin, nil, false, &sw)
	if len(sw.Items) != 1 || sw.Items[0].Title != "deb:shadow-tool" {
		t.Fatalf("installed software: %+v", sw.Items)
	}

	// A heartbeat against a hash the collector does not hold asks for a full report.
	hb := &protocol.Report{HostID: id, Seq: 3, Kind: protocol.KindHeartbeat, BaseHash: full.Hash, Hash: full.Hash, Capacity: full.Capacity}
	if resp := report(t, c.url, cred, hb); resp.Status != protocol.StatusNeedFull || resp.Hash != dr.Hash {
		t.Fatalf("stale heartbeat: %+v", resp)
	}
	hb.BaseHash, hb.Hash = dr.Hash, dr.Hash
	if resp := report(t, c.url, cred, hb); resp.Status != protocol.StatusAccepted {
		t.Fatalf("heartbeat: %+v", resp)
	}
	// Liveness arrives with the next status flush.
	wait.Until(t, 10*time.Second, "the host status written", func() bool {
		call(t, "GET", c.url+"/api/v1/hosts/"+id, admin, nil, false, &d)
		return d.Status != nil && !d.Status.LastSeen.IsZero()
	})
	// The collector's own metrics count what happened; etcd's come from the default registry.
	resp2, err := http.Get(c.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	for _, want := range []string{
		`onus_collector_reports_total{kind="full",result="accepted"} 1`,
		`onus_collector_reports_total{kind="full",result="duplicate"} 1`,
		`onus_collector_reports_total{kind="delta",result="accepted"} 1`,
		`onus_collector_reports_total{kind="heartbeat",result="need_full"} 1`,
		`onus_collector_enrollments_total{result="refused"} 1`,
		`onus_collector_index_hosts 1`,
		`onus_collector_software_events_total 1`,
		`onus_collector_report_duration_seconds_count{kind="delta"} 1`,
		`onus_collector_store_operation_duration_seconds_count{op="put_host"} 2`,
		"etcd_mvcc_db_total_size_in_bytes",
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if d.Host.Memory.AvailableBytes != inv.Host.Memory.AvailableBytes {
		t.Errorf("available memory %d, want %d from the capacity figures", d.Host.Memory.AvailableBytes, inv.Host.Memory.AvailableBytes)
	}
}

// TestRefusals sends bad requests and checks each gets its 4xx and changes nothing.
func TestRefusals(t *testing.T) {
	c := start(t, Options{DataDir: t.TempDir(), Limits: protocol.Limits{Compressed: 256 << 10, Decompressed: 2 << 20}})
	a, b := fixture.Golden(t, "debian12"), fixture.Golden(t, "rocky9")
	credA := enroll(t, c.url, a.Host.ID)
	credB := enroll(t, c.url, b.Host.ID)
	fullA, _ := fullReport(a, 1)
	report(t, c.url, credA, fullA)
	fullB, _ := fullReport(b, 1)

	var zeros bytes.Buffer
	zw := gzip.NewWriter(&zeros)
	zw.Write(make([]byte, 64<<20))
	zw.Close()
	huge := make([]byte, 300<<10)
	for i := range huge {
		huge[i] = byte(i*7919) | 1
	}
	badJSON := []byte(`{"host_id": "x", "seq": `)
	wrongKind := *fullA
	wrongKind.Seq, wrongKind.Kind = 2, "snapshot"
	badHash := *fullA
	badHash.Seq, badHash.Hash = 2, strings.Repeat("0", 64)
	cases := []struct {
		name   string
		method string
		path   string
		token  string
		body   []byte
		gz     bool
		want   int
	}{
		{"report without credential", "POST", protocol.PathReport, "", marshal(t, fullA), true, 401},
		{"report with an unknown credential", "POST", protocol.PathReport, a.Host.ID + ".forged", marshal(t, fullA), true, 401},
		{"report for another host", "POST", protocol.PathReport, credB, marshal(t, fullA), true, 403},
		{"malformed JSON", "POST", protocol.PathReport, credA, badJSON, false, 400},
		{"not gzip", "POST", protocol.PathReport, credA, []byte("{}"), true, 400},
		{"zip bomb", "POST", protocol.PathReport, credA, zeros.Bytes(), true, 413},
		{"oversize body", "POST", protocol.PathReport, credA, huge, false, 413},
		{"unknown kind", "POST", protocol.PathReport, credA, marshal(t, &wrongKind), true, 400},
		{"hash not matching the state", "POST", protocol.PathReport, credA, marshal(t, &badHash), true, 400},
		{"admin API without token", "GET", "/api/v1/hosts", "", nil, false, 401},
		{"admin API with an agent credential", "GET", "/api/v1/hosts", credA, nil, false, 401},
		{"bad glob", "GET", "/api/v1/software?name=[", admin, nil, false, 400},
		{"unknown host", "GET", "/api/v1/hosts/nope", admin, nil, false, 404},
		{"enroll with a bad host ID", "POST", protocol.PathEnroll, "", marshal(t, protocol.EnrollRequest{EnrollSecret: secret, HostID: "../etc"}), true, 400},
		{"enroll oversize", "POST", protocol.PathEnroll, "", huge, false, 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e protocol.ErrorResponse
			if code := call(t, tc.method, c.url+tc.path, tc.token, tc.body, tc.gz, &e); code != tc.want {
				t.Fatalf("status %d (%s), want %d", code, e.Error, tc.want)
			}
			t.Logf("%d %s", tc.want, e.Error)
		})
	}
	// Nothing changed: host A still has its first state, host B has none.
	var d hostDetail
	call(t, "GET", c.url+"/api/v1/hosts/"+a.Host.ID, admin, nil, false, &d)
	if d.Hash != fullA.Hash || len(d.Software) != len(a.Software) {
		t.Fatalf("host A changed: %s, %d packages", d.Hash, len(d.Software))
	}
	if code := call(t, "GET", c.url+"/api/v1/hosts/"+b.Host.ID, admin, nil, false, nil); code != 404 {
		t.Fatalf("host B: %d, want 404", code)
	}
	_ = fullB
}

// TestReplicasAndRestart runs a second collector on the first one's etcd, checks both serve
// the same answers, then restarts the first on its data directory.
func TestReplicasAndRestart(t *testing.T) {
	dir := t.TempDir()
	first := start(t, Options{DataDir: dir, EtcdClientURL: "http://127.0.0.1:0"})
	second := start(t, Options{EtcdEndpoints: []string{endpoint(t, first)}})
	invs := []*model.Inventory{fixture.Golden(t, "debian12"), fixture.Golden(t, "rocky9"), fixture.Golden(t, "arch")}
	for i, inv := range invs {
		// Enroll and report through alternating replicas.
		via := []*running{first, second}[i%2]
		cred := enroll(t, via.url, inv.Host.ID)
		full, _ := fullReport(inv, 1)
		report(t, []*running{first, second}[(i+1)%2].url, cred, full)
	}
	get := func(c *running, path string) string {
		var v any
		call(t, "GET", c.url+path, admin, nil, false, &v)
		b, _ := json.Marshal(v)
		return string(b)
	}
	for _, path := range []string{"/api/v1/hosts", "/api/v1/software", "/api/v1/services", "/api/v1/hosts/" + invs[1].Host.ID} {
		wait.For(t, 10*time.Second, path+" the same on both replicas", func() (bool, string) {
			a, b := get(first, path), get(second, path)
			return a == b, fmt.Sprintf("\n%s\n%s", a, b)
		})
	}
	var sw titles
	call(t, "GET", second.url+"/api/v1/software?limit=5", admin, nil, false, &sw)
	if len(sw.Items) != 5 || sw.Continue == "" {
		t.Fatalf("paged software: %d items, continue %q", len(sw.Items), sw.Continue)
	}
	before := get(first, "/api/v1/software")
	if err := second.stop(); err != nil {
		t.Fatal(err)
	}
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	again := start(t, Options{DataDir: dir})
	if got := get(again, "/api/v1/software"); got != before {
		t.Fatal("software list changed across a restart")
	}
	var hosts struct{ Items []struct{ ID string } }
	call(t, "GET", again.url+"/api/v1/hosts", admin, nil, false, &hosts)
	if len(hosts.Items) != len(invs) {
		t.Fatalf("%d hosts after restart, want %d", len(hosts.Items), len(invs))
	}
}

func endpoint(t *testing.T, c *running) string {
	t.Helper()
	ep := c.EtcdEndpoint()
	if ep == "" {
		t.Fatal("the first collector serves no etcd client URL")
	}
	return ep
}
