package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/agent/reporter"
	"github.com/onus-project/onus/agent/spool"
	"github.com/onus-project/onus/collector/app"
	"github.com/onus-project/onus/collector/cli"
	"github.com/onus-project/onus/internal/pki"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/bg"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/wait"
)

// identAgent is a running agent with its metrics and log.
type identAgent struct {
	reg  *prometheus.Registry
	log  *logBuffer
	stop func()
}

func startIdentAgent(t *testing.T, root, state, url string) *identAgent {
	t.Helper()
	a := &identAgent{reg: prometheus.NewRegistry(), log: &logBuffer{}}
	r := newReporter(t, root, reporter.Options{CollectorURL: url, InsecureHTTP: true, StateDir: state, Registerer: a.reg, Logger: a.log.logger()})
	a.stop = bg.Go(t, "agent", r.Run).Stop
	return a
}

// metric sums the values of the series of name whose labels include labels (name, value
// pairs).
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// adminCLI runs an onus-collector client command against url with the admin token.
func adminCLI(t *testing.T, url string, want int, args ...string) string {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(admin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	full := append(append([]string{}, args[:2]...), "--server", url, "--token-file", tokenFile)
	full = append(full, args[2:]...)
	var out, errOut bytes.Buffer
	if code := cli.Run(full, &out, &errOut); code != want {
		t.Fatalf("%q: exit %d, want %d; stderr: %s", args, code, want, errOut.String())
	}
	return out.String() + errOut.String()
}

type listedEnrollment struct {
	ID       string `json:"id"`
	HostID   string `json:"host_id"`
	State    string `json:"state"`
	Reason   string `json:"reason"`
	Remote   string `json:"remote"`
	Hostname string `json:"hostname"`
}

func pendingEnrollments(t *testing.T, url string) []listedEnrollment {
	t.Helper()
	var out []listedEnrollment
	if err := json.Unmarshal([]byte(adminCLI(t, url, 0, "enrollments", "list", "--state", "pending", "--json")), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestImpostorIsHeld replays the takeover: a second agent with the same machine-id, the
// fleet's enroll secret and a package database holding one decoy package enrolls while the
// real host reports. Its enrollment is held, not granted; the real host's inventory stays
// its own and its agent keeps reporting changes; the admin sees the request with its address
// and denies it, after which the impostor gets 403.
func TestImpostorIsHeld(t *testing.T) {
	col := runCollector(t, app.Options{InsecureHTTP: true, DataDir: t.TempDir(), PendingRetryAfter: time.Second})
	root := fixture.CopyRoot(t, fixture.Root(t, "debian12"))
	startIdentAgent(t, root, t.TempDir(), col.URL())
	first := waitHost(t, col.URL(), hostID, 20*time.Second, "first report", func(d *hostDetail) bool { return len(d.Software) > 0 })

	fake := fixture.CopyRoot(t, fixture.Root(t, "debian12"))
	fixture.RewriteDpkgStatus(t, fake, func(string) string {
		return "Package: decoy\nStatus: install ok installed\nPriority: optional\nSection: utils\nMaintainer: Nobody <nobody@example.com>\n" +
			"Architecture: amd64\nVersion: 1.0\nDescription: nothing to see\n"
	})
	impostor := startIdentAgent(t, fake, t.TempDir(), col.URL())
	wait.Until(t, 20*time.Second, "the impostor's enrollment held", func() bool {
		return metric(t, impostor.reg, "onus_agent_enrollment_pending") == 1
	})
	waitLog(t, impostor.log, "the impostor's log", "holds this agent's enrollment until an admin approves it", "onus-collector enrollments approve ")

	// The real agent keeps reporting what changes on its host.
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	fixture.DpkgInstall(t, root, "real-tool", "2.0-1", at)
	d := waitHost(t, col.URL(), hostID, 15*time.Second, "the real host's install", func(d *hostDetail) bool { return has(d, "deb:real-tool") })
	if has(d, "deb:decoy") || len(d.Software) != len(first.Software)+1 {
		t.Fatalf("the real host's inventory: %d packages (had %d), decoy %v", len(d.Software), len(first.Software), has(d, "deb:decoy"))
	}

	// One held enrollment however often the impostor asks, listed with where it came from.
	wait.Until(t, 10*time.Second, "the impostor asking again", func() bool {
		return metric(t, col.Registry, "onus_collector_enrollments_total", "result", "waiting") >= 2
	})
	held := pendingEnrollments(t, col.URL())
	if len(held) != 1 || held[0].HostID != hostID || held[0].Reason != protocol.PendingNoCredential || !strings.HasPrefix(held[0].Remote, "127.0.0.1:") {
		t.Fatalf("pending enrollments: %+v", held)
	}
	if got := metric(t, col.Registry, "onus_collector_enrollments_total", "result", "pending"); got != 1 {
		t.Fatalf("held enrollments counted: %v, want 1", got)
	}
	if got := metric(t, col.Registry, "onus_collector_enrollments_pending"); got != 1 {
		t.Fatalf("onus_collector_enrollments_pending = %v, want 1", got)
	}
	if out := adminCLI(t, col.URL(), 0, "enrollments", "list"); !strings.Contains(out, held[0].ID) || !strings.Contains(out, "no_credential") {
		t.Fatalf("enrollments list: %s", out)
	}
	// The impostor logged its state once, not once per try.
	if n := strings.Count(impostor.log.String(), "holds this agent's enrollment"); n != 1 {
		t.Fatalf("the held state logged %d times, want once:\n%s", n, impostor.log.String())
	}

	if out := adminCLI(t, col.URL(), 0, "enrollments", "deny", held[0].ID); !strings.Contains(out, "denied enrollment "+held[0].ID) {
		t.Fatalf("enrollments deny: %s", out)
	}
	wait.Until(t, 10*time.Second, "the impostor told of the denial", func() bool {
		return metric(t, impostor.reg, "onus_agent_enrollments_total", "result", "403") >= 1
	})
	if got := metric(t, col.Registry, "onus_collector_enrollments_pending"); got != 0 {
		t.Fatalf("onus_collector_enrollments_pending after the denial = %v", got)
	}
	fixture.DpkgRemove(t, root, "real-tool")
	d = waitHost(t, col.URL(), hostID, 15*time.Second, "the real host's removal", func(d *hostDetail) bool { return !has(d, "deb:real-tool") })
	if has(d, "deb:decoy") || len(d.Software) != len(first.Software) {
		t.Fatalf("the real host's inventory after the denial: %d packages, decoy %v", len(d.Software), has(d, "deb:decoy"))
	}
}

// TestLostStateDirectory is the way back for an agent that really lost its state directory:
// its enrollment is held while it keeps journaling changes, an admin approves it, and its
// reports resume with those changes; the earlier credential stops working and the approval
// cannot be claimed twice. Then the other way back: the host deleted, an agent enrolls anew.
// And an agent whose credential was replaced presents it after the 401, and forgets it once
// the collector says it is unknown.
func TestLostStateDirectory(t *testing.T) {
	col := runCollector(t, app.Options{InsecureHTTP: true, DataDir: t.TempDir(), PendingRetryAfter: time.Second})
	root := fixture.CopyRoot(t, fixture.Root(t, "debian12"))
	stateA := t.TempDir()
	a := startIdentAgent(t, root, stateA, col.URL())
	waitHost(t, col.URL(), hostID, 20*time.Second, "first report", func(d *hostDetail) bool { return len(d.Software) > 0 })
	a.stop()
	var credA spool.Credential
	if b, err := os.ReadFile(filepath.Join(stateA, spool.CredentialFile)); err != nil || json.Unmarshal(b, &credA) != nil {
		t.Fatalf("agent A's credential: %v", err)
	}

	// A new, empty state directory on the same host.
	stateB := t.TempDir()
	b := startIdentAgent(t, root, stateB, col.URL())
	wait.Until(t, 20*time.Second, "agent B's enrollment held", func() bool {
		return metric(t, b.reg, "onus_agent_enrollment_pending") == 1
	})
	var heldB spool.Enrollment
	if data, err := os.ReadFile(filepath.Join(stateB, spool.EnrollmentFile)); err != nil || json.Unmarshal(data, &heldB) != nil || heldB.Token == "" {
		t.Fatalf("agent B's held enrollment: %v %+v", err, heldB)
	}
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	fixture.DpkgInstall(t, root, "while-held", "1.0-1", at)
	wait.Until(t, 15*time.Second, "the install journaled while held", func() bool {
		return metric(t, b.reg, "onus_agent_journal_events") >= 1
	})
	held := pendingEnrollments(t, col.URL())
	if len(held) != 1 || held[0].ID != heldB.ID {
		t.Fatalf("pending enrollments %+v, agent B holds %s", held, heldB.ID)
	}
	if out := adminCLI(t, col.URL(), 0, "enrollments", "approve", heldB.ID); !strings.Contains(out, "approved enrollment "+heldB.ID) {
		t.Fatalf("enrollments approve: %s", out)
	}
	d := waitHost(t, col.URL(), hostID, 15*time.Second, "agent B's reports", func(d *hostDetail) bool { return has(d, "deb:while-held") })
	found := false
	for _, e := range d.Events {
		found = found || (e.Name == "while-held" && e.Type == protocol.EventInstalled && e.Time.Equal(at))
	}
	if !found {
		t.Fatalf("the install made while held is not among the events with its time %s: %+v", at, d.Events)
	}
	if metric(t, b.reg, "onus_agent_enrollment_pending") != 0 || metric(t, col.Registry, "onus_collector_enrollments_total", "result", "approved") != 1 {
		t.Fatal("the approval not claimed as counted")
	}
	if _, err := os.Stat(filepath.Join(stateB, spool.EnrollmentFile)); !os.IsNotExist(err) {
		t.Fatalf("agent B still keeps its claimed enrollment: %v", err)
	}
	waitLog(t, b.log, "agent B", "enrolled with the collector after waiting")
	// The earlier credential no longer works.
	hb := protocol.Report{HostID: hostID, Seq: 1000, Kind: protocol.KindHeartbeat, SentAt: time.Now().UTC(), BaseHash: d.Hash, Hash: d.Hash}
	if code := post(t, col.URL()+protocol.PathReport, credA.Credential, hb); code != 401 {
		t.Fatalf("report with agent A's credential: %d, want 401", code)
	}
	// The approval is used up: its token again is a new request, held.
	if code := post(t, col.URL()+protocol.PathEnroll, "", protocol.EnrollRequest{EnrollSecret: secret, HostID: hostID, PendingToken: heldB.Token}); code != 202 {
		t.Fatalf("reusing the approved token: %d, want 202", code)
	}
	for _, e := range pendingEnrollments(t, col.URL()) {
		if e.ID == heldB.ID {
			t.Fatalf("the claimed enrollment is listed again: %+v", e)
		}
	}

	// Someone with agent B's credential proves the host and rotates it: agent B's next report
	// gets 401; it presents the credential it holds, which the collector no longer knows, so
	// it is held, saying why, and agent B forgets that credential but keeps collecting.
	var credB spool.Credential
	if data, err := os.ReadFile(filepath.Join(stateB, spool.CredentialFile)); err != nil || json.Unmarshal(data, &credB) != nil {
		t.Fatalf("agent B's credential: %v", err)
	}
	if code := post(t, col.URL()+protocol.PathEnroll, "", protocol.EnrollRequest{EnrollSecret: secret, HostID: hostID, Credential: credB.Credential}); code != 200 {
		t.Fatalf("enrollment with agent B's credential: %d, want 200", code)
	}
	wait.Until(t, 20*time.Second, "agent B held again, with the credential it presented unknown", func() bool {
		for _, e := range pendingEnrollments(t, col.URL()) {
			if e.Reason == protocol.PendingCredentialUnknown {
				return true
			}
		}
		return false
	})
	wait.Until(t, 10*time.Second, "agent B forgets the unknown credential", func() bool {
		_, err := os.Stat(filepath.Join(stateB, spool.CredentialFile))
		return os.IsNotExist(err)
	})

	// The other way back: delete the host, and the agent asking for it enrolls.
	if out := adminCLI(t, col.URL(), 0, "hosts", "delete", hostID); !strings.Contains(out, "deleted host "+hostID) {
		t.Fatalf("hosts delete: %s", out)
	}
	fixture.DpkgInstall(t, root, "after-delete", "1.0-1", at)
	waitHost(t, col.URL(), hostID, 20*time.Second, "agent B back after the delete", func(d *hostDetail) bool {
		return has(d, "deb:after-delete") && has(d, "deb:while-held")
	})
	if metric(t, b.reg, "onus_agent_enrollment_pending") != 0 {
		t.Fatal("agent B still waiting after the delete")
	}
}

// post sends v as JSON with an optional bearer credential and returns the status.
func post(t *testing.T, url, cred string, v any) int {
	t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestCertificateProvesHost: over mutual TLS, a client certificate of the collector's client
// CA whose name is the host ID proves the host, so an agent holding it enrolls again without
// its old credential or an admin; a certificate with another name proves nothing.
func TestCertificateProvesHost(t *testing.T) {
	p := newTestPKI(t)
	p.issue(t, "agent-host", pki.Request{CommonName: hostID, Usage: pki.ClientAuth})
	root := fixture.CopyRoot(t, fixture.Root(t, "debian12"))
	addr := runCollector(t, app.Options{DataDir: t.TempDir(), TLSCertFile: p.cert("collector"), TLSKeyFile: p.key("collector"),
		TLSClientCAFile: p.cert("ca"), TLSClientAuth: app.ClientAuthVerifyIfGiven}).Addr()
	url := "https://" + addr
	var logA logBuffer
	stopA := startTLSAgent(t, root, t.TempDir(), url, p.cert("ca"), "", "", logA.logger())
	waitLog(t, &logA, "agent A", "report accepted")
	stopA()

	// Another name: held like any request without proof.
	var logW logBuffer
	stopW := startTLSAgent(t, root, t.TempDir(), url, p.cert("ca"), p.cert("agent-web-01"), p.key("agent-web-01"), logW.logger())
	waitLog(t, &logW, "an agent with a certificate of another name", "holds this agent's enrollment until an admin approves it")
	stopW()

	// The host's own name: enrolled at once, and its reports flow.
	var logB logBuffer
	startTLSAgent(t, root, t.TempDir(), url, p.cert("ca"), p.cert("agent-host"), p.key("agent-host"), logB.logger())
	waitLog(t, &logB, "the agent with the host's certificate", "enrolled with the collector", "report accepted")
	if strings.Contains(logB.String(), "holds this agent's enrollment") {
		t.Fatalf("the agent with the host's certificate was held:\n%s", logB.String())
	}
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	fixture.DpkgInstall(t, root, "cert-tool", "1.0-1", at)
	wait.Until(t, 15*time.Second, "the install of the agent with the host's certificate", func() bool {
		d, ok := p.getHost(url)
		return ok && has(d, "deb:cert-tool")
	})
}
