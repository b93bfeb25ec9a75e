package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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

// logBuffer collects a component's logs for a test to look at.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitLog waits until the log holds all of want.
func waitLog(t *testing.T, b *logBuffer, what string, want ...string) {
	t.Helper()
	wait.For(t, 15*time.Second, fmt.Sprintf("%s: the log saying %q", what, want), func() (bool, string) {
		s := b.String()
		for _, w := range want {
			if !strings.Contains(s, w) {
				return false, "the log:\n" + s
			}
		}
		return true, ""
	})
}

// testPKI is a private CA with the certificates of a collector on 127.0.0.1 and an agent,
// and a second CA unknown to the collector with an agent certificate of its own.
type testPKI struct {
	dir string
	ca  *pki.CA
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	ca, pair, err := pki.NewCA("test CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p.ca = ca
	p.write(t, pair, "ca")
	p.issue(t, "collector", pki.Request{CommonName: "127.0.0.1", Hosts: []string{"127.0.0.1", "localhost"}, Usage: pki.ServerAuth})
	p.issue(t, "agent-web-01", pki.Request{CommonName: "web-01", Usage: pki.ClientAuth})
	p.issue(t, "admin", pki.Request{CommonName: "admin", Usage: pki.ClientAuth})
	other, otherPair, err := pki.NewCA("another CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, otherPair, "other-ca")
	rogue, err := other.Issue(pki.Request{CommonName: "web-01", Usage: pki.ClientAuth}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, rogue, "rogue")
	return p
}

func (p *testPKI) issue(t *testing.T, base string, req pki.Request) {
	t.Helper()
	pair, err := p.ca.Issue(req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, pair, base)
}

func (p *testPKI) write(t *testing.T, pair *pki.Pair, base string) {
	t.Helper()
	if err := pki.WriteFiles(p.dir, pair.Files(base), false); err != nil {
		t.Fatal(err)
	}
}

func (p *testPKI) cert(base string) string { return filepath.Join(p.dir, base+".pem") }
func (p *testPKI) key(base string) string  { return filepath.Join(p.dir, base+"-key.pem") }

// startTLSAgent runs an agent that trusts caFile and presents certFile/keyFile (when set).
func startTLSAgent(t *testing.T, root, state, url, caFile, certFile, keyFile string, log *slog.Logger) func() {
	t.Helper()
	r := newReporter(t, root, reporter.Options{CollectorURL: url, CAFile: caFile, TLSCertFile: certFile, TLSKeyFile: keyFile,
		StateDir: state, Logger: log})
	return bg.Go(t, "agent", r.Run).Stop
}

// get gets an admin API path with the admin token over HTTPS, presenting certBase's
// certificate when it is not empty.
func (p *testPKI) get(url, certBase string) (int, string, error) {
	pool, err := pki.LoadPool(p.cert("ca"))
	if err != nil {
		return 0, "", err
	}
	tc := &tls.Config{RootCAs: pool}
	if certBase != "" {
		c, err := tls.LoadX509KeyPair(p.cert(certBase), p.key(certBase))
		if err != nil {
			return 0, "", err
		}
		tc.Certificates = []tls.Certificate{c}
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 5 * time.Second}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestMutualTLS turns client certificates on for an enrolled agent: without a certificate
// its reports are refused at the handshake and kept in its spool; with one from another CA
// too; once the right certificate is written over its files, the agent (not restarted) sends
// what it kept, install time and all. The CLI and a scrape need a certificate as well.
func TestMutualTLS(t *testing.T) {
	p := newTestPKI(t)
	root := fixture.CopyRoot(t, fixture.Root(t, "debian12"))
	data, state := t.TempDir(), t.TempDir()
	tlsOpts := app.Options{DataDir: data, TLSCertFile: p.cert("collector"), TLSKeyFile: p.key("collector"), TLSClientCAFile: p.cert("ca")}

	// verify-if-given: an agent without a certificate enrolls and reports.
	opts := tlsOpts
	opts.TLSClientAuth = app.ClientAuthVerifyIfGiven
	col := runCollector(t, opts)
	addr, stopCollector := col.Addr(), col.Stop
	url := "https://" + addr
	var agentLog logBuffer
	stopAgent := startTLSAgent(t, root, state, url, p.cert("ca"), "", "", agentLog.logger())
	waitLog(t, &agentLog, "first report", "report accepted")
	stopCollector()

	// require: the same agent is refused at the handshake, and keeps its report.
	var colLog logBuffer
	opts = tlsOpts
	opts.TLSClientAuth, opts.ListenAddress, opts.Logger = app.ClientAuthRequire, addr, colLog.logger()
	runCollector(t, opts)
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	fixture.DpkgInstall(t, root, "mtls-tool", "1.0-1", at)
	waitLog(t, &agentLog, "agent without a certificate", "software change", "mtls-tool",
		"the collector refused the TLS handshake: it requires a client certificate (--tls-cert-file, --tls-key-file)")
	waitLog(t, &colLog, "collector", "TLS handshake error", "client didn't provide a certificate")
	stopAgent()
	sp, err := spool.Open(spool.Options{Dir: state})
	if err != nil {
		t.Fatal(err)
	}
	// The install is in the report in flight or in the journal for the next one.
	kept, _, _ := sp.Journal()
	if pending := sp.Pending(); pending != nil {
		kept = append(kept, pending.Report.Events...)
	}
	if len(kept) != 1 || kept[0].Name != "mtls-tool" || !kept[0].Time.Equal(at) {
		t.Fatalf("the spool does not keep the install: %+v", kept)
	}
	if code, _, err := p.get(url+"/api/v1/hosts/"+hostID, "admin"); err != nil || code != 200 {
		t.Fatalf("admin with a client certificate: %d %v", code, err)
	}
	if _, _, err := p.get(url+"/api/v1/hosts/"+hostID, ""); err == nil {
		t.Fatal("a request without a client certificate was answered")
	}
	if _, _, err := p.get(url+"/metrics", "rogue"); err == nil {
		t.Fatal("a scrape with a certificate of another CA was answered")
	}

	// A certificate of another CA is refused too.
	certDir := t.TempDir()
	certFile, keyFile := filepath.Join(certDir, "agent.pem"), filepath.Join(certDir, "agent-key.pem")
	copyFile(t, p.cert("rogue"), certFile)
	copyFile(t, p.key("rogue"), keyFile)
	var rotLog logBuffer
	startTLSAgent(t, root, state, url, p.cert("ca"), certFile, keyFile, rotLog.logger())
	waitLog(t, &rotLog, "agent with another CA's certificate", "refused the TLS handshake with the client certificate "+certFile)
	waitLog(t, &colLog, "collector", "certificate signed by unknown authority")
	if d, ok := p.getHost(url); ok && has(d, "deb:mtls-tool") {
		t.Fatal("a report got through with a certificate of another CA")
	}

	// The right certificate, written over the files: no restart.
	copyFile(t, p.cert("agent-web-01"), certFile)
	copyFile(t, p.key("agent-web-01"), keyFile)
	deadline := time.Now().Add(15 * time.Second)
	for {
		d, ok := p.getHost(url)
		if ok && has(d, "deb:mtls-tool") {
			var got *protocol.Event
			for i, e := range d.Events {
				if e.Name == "mtls-tool" {
					got = &d.Events[i]
				}
			}
			if got == nil || got.Type != protocol.EventInstalled || !got.Time.Equal(at) {
				t.Fatalf("the install kept while refused arrived as %+v, want installed at %s", got, at)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent never reported after its certificate was replaced; log:\n%s", rotLog.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitLog(t, &rotLog, "rotation", "TLS certificate reloaded", "subject=web-01")

	// The CLI presents a certificate with --cert-file and --key-file.
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte(admin), 0o600)
	common := []string{"--server", url, "--token-file", tokenFile, "--ca-file", p.cert("ca")}
	var out, errOut bytes.Buffer
	if code := cli.Run(append([]string{"coverage"}, append(common, "--cert-file", p.cert("admin"), "--key-file", p.key("admin"))...), &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), "host") {
		t.Fatalf("CLI with a client certificate: exit %d: %s %s", code, out.String(), errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if code := cli.Run(append([]string{"coverage"}, common...), &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "certificate") {
		t.Fatalf("CLI without a client certificate: exit %d: %s", code, errOut.String())
	}
	if code := cli.Run(append([]string{"coverage"}, append(common, "--cert-file", p.cert("admin"))...), &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "go together") {
		t.Fatalf("CLI with a certificate but no key: exit %d: %s", code, errOut.String())
	}
}

func (p *testPKI) getHost(url string) (*hostDetail, bool) {
	code, body, err := p.get(url+"/api/v1/hosts/"+hostID, "admin")
	if err != nil || code != 200 {
		return nil, false
	}
	var d hostDetail
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		return nil, false
	}
	return &d, true
}

// copyFile replaces dst with src's contents the way a rotation tool does: a new file renamed
// over the old one.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteFiles(filepath.Dir(dst), []pki.File{{Name: filepath.Base(dst), Data: b, Mode: 0o600}}, true); err != nil {
		t.Fatal(err)
	}
}
