package app

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/collector/ingest"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
)

const reader = "test-read-token-0123456789"

// enrollAs sends an enrollment and returns the status, the Retry-After header and the
// answer (an error's message in Message).
func enrollAs(t *testing.T, url string, req protocol.EnrollRequest) (int, string, protocol.EnrollResponse) {
	t.Helper()
	if req.EnrollSecret == "" {
		req.EnrollSecret = secret
	}
	hreq, err := http.NewRequest("POST", url+protocol.PathEnroll, bytes.NewReader(marshal(t, req)))
	if err != nil {
		t.Fatal(err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out protocol.EnrollResponse
	if resp.StatusCode < 300 {
		if err := protocol.Decode(bytes.NewReader(b), "", protocol.Limits{Compressed: 1 << 20, Decompressed: 1 << 20}, &out); err != nil {
			t.Fatalf("enroll answer %s: %v", b, err)
		}
	} else {
		var e protocol.ErrorResponse
		if err := protocol.Decode(bytes.NewReader(b), "", protocol.Limits{Compressed: 1 << 20, Decompressed: 1 << 20}, &e); err != nil || e.Error == "" {
			t.Fatalf("%d answer without a JSON error message: %s", resp.StatusCode, b)
		}
		out.Message = e.Error
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), out
}

type enrollmentList struct {
	Items []struct {
		ID               string `json:"id"`
		HostID           string `json:"host_id"`
		State            string `json:"state"`
		Reason           string `json:"reason"`
		Remote           string `json:"remote"`
		Hostname         string `json:"hostname"`
		EnrolledHostname string `json:"enrolled_hostname"`
	} `json:"items"`
}

// TestReenrollment goes through what an enrollment of an enrolled host ID gets under the
// default policy, over real HTTP against a real collector: the credential proves the host
// and is rotated; without it the enrollment is held, listed, approved or denied by the admin
// token only; the approved agent's token claims the credential once; the displaced
// credential stops working.
func TestReenrollment(t *testing.T) {
	c := start(t, Options{DataDir: t.TempDir(), ReadToken: reader, PendingRetryAfter: 3 * time.Second})
	reg := gatherer(c).(*prometheus.Registry)
	inv := fixture.Golden(t, "debian12")
	id := inv.Host.ID
	cred1 := enroll(t, c.url, id)
	full, _ := fullReport(inv, 1)
	report(t, c.url, cred1, full)

	// The enroll secret alone: held, with Retry-After, and the enrolled credential works.
	code, ra, held := enrollAs(t, c.url, protocol.EnrollRequest{HostID: id, Hostname: "impostor"})
	if code != 202 || ra != "3" || held.Status != protocol.EnrollPending || held.Credential != "" || held.EnrollmentID == "" ||
		held.PendingToken == "" || held.Reason != protocol.PendingNoCredential || !strings.Contains(held.Message, "onus-collector enrollments approve "+held.EnrollmentID) {
		t.Fatalf("enrollment without proof: %d, Retry-After %q, %+v", code, ra, held)
	}
	hb := &protocol.Report{HostID: id, Seq: 2, Kind: protocol.KindHeartbeat, SentAt: time.Now().UTC(), BaseHash: full.Hash, Hash: full.Hash}
	report(t, c.url, cred1, hb)
	// Asking again with the token: the same enrollment, none added.
	if code, _, again := enrollAs(t, c.url, protocol.EnrollRequest{HostID: id, PendingToken: held.PendingToken}); code != 202 || again.EnrollmentID != held.EnrollmentID {
		t.Fatalf("asking again: %d %+v", code, again)
	}
	// A credential that is not the host's: held too, saying so.
	code, _, wrong := enrollAs(t, c.url, protocol.EnrollRequest{HostID: id, Credential: id + ".forged"})
	if code != 202 || wrong.Reason != protocol.PendingCredentialUnknown || wrong.EnrollmentID == held.EnrollmentID {
		t.Fatalf("enrollment with a forged credential: %d %+v", code, wrong)
	}

	// The current credential proves the host: rotated, the old one stops working.
	code, _, rot := enrollAs(t, c.url, protocol.EnrollRequest{HostID: id, Credential: cred1})
	if code != 200 || rot.Status != protocol.EnrollEnrolled || rot.Credential == "" || rot.Credential == cred1 {
		t.Fatalf("enrollment with the credential: %d %+v", code, rot)
	}
	cred2 := rot.Credential
	if code := call(t, "POST", c.url+protocol.PathReport, cred1, marshal(t, hb), true, nil); code != 401 {
		t.Fatalf("report with the rotated-out credential: %d, want 401", code)
	}
	hb.Seq = 3
	report(t, c.url, cred2, hb)

	// The list: both held enrollments, with where they came from; the admin and read tokens.
	var list enrollmentList
	if code := call(t, "GET", c.url+"/api/v1/enrollments?state=pending", reader, nil, false, &list); code != 200 || len(list.Items) != 2 {
		t.Fatalf("list with the read token: %d %+v", code, list)
	}
	if it := list.Items[0]; it.ID != held.EnrollmentID || it.HostID != id || it.Hostname != "impostor" || !strings.HasPrefix(it.Remote, "127.0.0.1:") ||
		it.EnrolledHostname != "" || it.Reason != protocol.PendingNoCredential {
		t.Fatalf("first enrollment listed: %+v", it)
	}
	waitMetrics(t, reg, "onus_collector_enrollments_pending 2", "onus_collector_enrollments_pending")

	// Deciding takes the admin token.
	approve := c.url + "/api/v1/enrollments/" + held.EnrollmentID + "/approve"
	if code := call(t, "POST", approve, reader, nil, false, nil); code != 403 {
		t.Fatalf("approve with the read token: %d, want 403", code)
	}
	if code := call(t, "POST", approve, "", nil, false, nil); code != 401 {
		t.Fatalf("approve without a token: %d, want 401", code)
	}
	if code := call(t, "POST", c.url+"/api/v1/enrollments/nope/approve", admin, nil, false, nil); code != 404 {
		t.Fatalf("approve an unknown enrollment: %d, want 404", code)
	}
	if code := call(t, "POST", c.url+"/api/v1/enrollments/"+wrong.EnrollmentID+"/deny", admin, nil, false, nil); code != 200 {
		t.Fatalf("deny: %d", code)
	}
	if code, _, d := enrollAs(t, c.url, protocol.EnrollRequest{HostID: id, PendingToken: wrong.PendingToken}); code != 403 || !strings.Contains(d.Message, "denied") {
		t.Fatalf("asking again after the denial: %d %+v", code, d)
	}
	if code := call(t, "POST", approve, admin, nil, false, nil); code != 200 {
		t.Fatalf("approve: %d", code)
	}
	// Only the token claims the approval.
	if code, _, other := enrollAs(t, c.url, protocol.EnrollRequest{HostID: id}); code != 202 || other.EnrollmentID == held.EnrollmentID {
		t.Fatalf("another request after the approval: %d %+v", code, other)
	}
	code, _, got := enrollAs(t, c.url, protocol.EnrollRequest{HostID: id, PendingToken: held.PendingToken})
	if code != 200 || got.Credential == "" {
		t.Fatalf("claiming the approval: %d %+v", code, got)
	}
	if code := call(t, "POST", c.url+protocol.PathReport, cred2, marshal(t, hb), true, nil); code != 401 {
		t.Fatalf("report with the displaced credential: %d, want 401", code)
	}
	hb.Seq = 4
	report(t, c.url, got.Credential, hb)
	// An approval is used up: the token again is a new request, held.
	if code, _, re := enrollAs(t, c.url, protocol.EnrollRequest{HostID: id, PendingToken: held.PendingToken}); code != 202 || re.Credential != "" || re.EnrollmentID == held.EnrollmentID {
		t.Fatalf("reusing the approved token: %d %+v", code, re)
	}
	for result, want := range map[string]float64{"ok": 1, "rotated": 1, "approved": 1, "pending": 4, "waiting": 1, "denied": 1} {
		if got := counter(t, reg, "onus_collector_enrollments_total", "result", result); got != want {
			t.Errorf("onus_collector_enrollments_total{result=%q} = %v, want %v", result, got, want)
		}
	}
}

// TestEnrollRetry: an enrollment whose answer was lost is retried with the agent's own
// token, which the collector kept with the credential it made: the retry gets a new
// credential, not a hold; another token does not.
func TestEnrollRetry(t *testing.T) {
	c := start(t, Options{DataDir: t.TempDir()})
	token := strings.Repeat("t", 43)
	code, _, first := enrollAs(t, c.url, protocol.EnrollRequest{HostID: "host-r", PendingToken: token})
	if code != 200 || first.Credential == "" {
		t.Fatalf("first enrollment: %d %+v", code, first)
	}
	code, _, again := enrollAs(t, c.url, protocol.EnrollRequest{HostID: "host-r", PendingToken: token})
	if code != 200 || again.Credential == "" || again.Credential == first.Credential {
		t.Fatalf("the retry: %d %+v", code, again)
	}
	if code := call(t, "POST", c.url+protocol.PathReport, first.Credential, marshal(t, &protocol.Report{HostID: "host-r"}), true, nil); code != 401 {
		t.Fatalf("the lost answer's credential: %d, want 401", code)
	}
	// Until the credential is rotated with itself as proof, the token proves the
	// enrollment (the retry's answer may be lost too); after that, nothing.
	code, _, third := enrollAs(t, c.url, protocol.EnrollRequest{HostID: "host-r", PendingToken: token})
	if code != 200 || third.Credential == "" {
		t.Fatalf("a second retry: %d %+v", code, third)
	}
	if code, _, e := enrollAs(t, c.url, protocol.EnrollRequest{HostID: "host-r", Credential: third.Credential}); code != 200 || e.Credential == "" {
		t.Fatalf("rotation with the credential: %d %+v", code, e)
	}
	if code, _, e := enrollAs(t, c.url, protocol.EnrollRequest{HostID: "host-r", PendingToken: token}); code != 202 {
		t.Fatalf("the token after the rotation: %d %+v", code, e)
	}
	if code, _, e := enrollAs(t, c.url, protocol.EnrollRequest{HostID: "host-r", PendingToken: strings.Repeat("u", 43)}); code != 202 {
		t.Fatalf("another token: %d %+v", code, e)
	}
}

// TestReenrollPolicies checks the refuse and allow policies.
func TestReenrollPolicies(t *testing.T) {
	id := fixture.Golden(t, "debian12").Host.ID
	t.Run("refuse", func(t *testing.T) {
		c := start(t, Options{DataDir: t.TempDir(), ReenrollPolicy: "refuse"})
		cred := enroll(t, c.url, id)
		if code, _, e := enrollAs(t, c.url, protocol.EnrollRequest{HostID: id}); code != 409 || !strings.Contains(e.Message, "onus-collector hosts delete "+id) {
			t.Fatalf("enrollment without proof: %d %+v", code, e)
		}
		if code, _, e := enrollAs(t, c.url, protocol.EnrollRequest{HostID: id, Credential: cred}); code != 200 || e.Credential == "" {
			t.Fatalf("enrollment with the credential: %d %+v", code, e)
		}
		if got := counter(t, gatherer(c).(*prometheus.Registry), "onus_collector_enrollments_total", "result", "takeover_refused"); got != 1 {
			t.Fatalf("takeover_refused = %v", got)
		}
	})
	t.Run("allow", func(t *testing.T) {
		c := start(t, Options{DataDir: t.TempDir(), ReenrollPolicy: "allow"})
		enroll(t, c.url, id)
		if code, _, e := enrollAs(t, c.url, protocol.EnrollRequest{HostID: id}); code != 200 || e.Credential == "" {
			t.Fatalf("enrollment without proof: %d %+v", code, e)
		}
		if got := counter(t, gatherer(c).(*prometheus.Registry), "onus_collector_enrollments_total", "result", "replaced"); got != 1 {
			t.Fatalf("replaced = %v", got)
		}
	})
	if _, err := New(Options{ListenAddress: "127.0.0.1:0", InsecureHTTP: true, DataDir: t.TempDir(), EnrollSecret: secret, AdminToken: admin,
		ReenrollPolicy: "maybe"}); err == nil || !strings.Contains(err.Error(), "--reenroll-policy") {
		t.Fatalf("an unknown policy: %v", err)
	}
}

// TestEnrollRateLimit sends wrong enroll secrets and held enrollments from one address until
// they get 429 with Retry-After, while good enrollments never spend the budget.
func TestEnrollRateLimit(t *testing.T) {
	c := start(t, Options{DataDir: t.TempDir(), EnrollRateLimit: ingest.RateLimit{PerAddress: 0.5, PerAddressBurst: 3, Total: 1000}})
	reg := gatherer(c).(*prometheus.Registry)
	// A fleet enrolling at once is not limited.
	for i := range 20 {
		if code, _, e := enrollAs(t, c.url, protocol.EnrollRequest{HostID: "host-" + strconv.Itoa(i)}); code != 200 {
			t.Fatalf("enrollment %d of a new host: %d %+v", i, code, e)
		}
	}
	// Two wrong secrets and one held enrollment use the burst.
	for i := range 2 {
		if code, _, _ := enrollAs(t, c.url, protocol.EnrollRequest{EnrollSecret: "wrong-secret-0123456789", HostID: "host-x"}); code != 401 {
			t.Fatalf("wrong secret %d: %d", i, code)
		}
	}
	if code, _, _ := enrollAs(t, c.url, protocol.EnrollRequest{HostID: "host-0"}); code != 202 {
		t.Fatalf("held enrollment: %d", code)
	}
	code, ra, e := enrollAs(t, c.url, protocol.EnrollRequest{EnrollSecret: "wrong-secret-0123456789", HostID: "host-x"})
	if n, _ := strconv.Atoi(ra); code != 429 || n < 1 || n > 2 || !strings.Contains(e.Message, "too many failed enrollments") {
		t.Fatalf("over the limit: %d, Retry-After %q, %+v", code, ra, e)
	}
	// Limited, the secret is not even checked: a guess learns nothing.
	if code, _, _ := enrollAs(t, c.url, protocol.EnrollRequest{HostID: "host-new"}); code != 429 {
		t.Fatalf("while limited: %d, want 429", code)
	}
	if got := counter(t, reg, "onus_collector_enrollments_total", "result", "rate_limited"); got != 2 {
		t.Fatalf("rate_limited = %v, want 2", got)
	}
	// A token comes back after two seconds.
	time.Sleep(2100 * time.Millisecond)
	if code, _, _ := enrollAs(t, c.url, protocol.EnrollRequest{HostID: "host-new"}); code != 200 {
		t.Fatalf("after the refill: %d, want 200", code)
	}

	// The overall bucket limits many addresses together; here all are one.
	c2 := start(t, Options{DataDir: t.TempDir(), EnrollRateLimit: ingest.RateLimit{PerAddress: -1, Total: 0.5, TotalBurst: 2}})
	for i := range 2 {
		if code, _, _ := enrollAs(t, c2.url, protocol.EnrollRequest{EnrollSecret: "wrong-secret-0123456789", HostID: "h"}); code != 401 {
			t.Fatalf("wrong secret %d: %d", i, code)
		}
	}
	if code, ra, _ := enrollAs(t, c2.url, protocol.EnrollRequest{EnrollSecret: "wrong-secret-0123456789", HostID: "h"}); code != 429 || ra == "" {
		t.Fatalf("over the overall limit: %d, Retry-After %q", code, ra)
	}
}
