package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestIssueChainsToCA(t *testing.T) {
	now := time.Now()
	ca, caPair, err := NewCA("test CA", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPair.CertPEM)
	srv, err := ca.Issue(Request{CommonName: "srv", Hosts: []string{"Collector.example.com", "10.0.0.1", "::1"}, Usage: ServerAuth, Validity: 48 * time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	// The validity ends with the CA's.
	if !srv.Cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("server certificate ends %s, CA %s", srv.Cert.NotAfter, ca.Cert.NotAfter)
	}
	for _, name := range []string{"collector.example.com", "10.0.0.1", "::1"} {
		if _, err := srv.Cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	if _, err := srv.Cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("a server certificate verifies for client authentication")
	}
	if _, err := tls.X509KeyPair(srv.CertPEM, srv.KeyPEM); err != nil {
		t.Errorf("server pair: %v", err)
	}
	for _, bad := range []Request{
		{CommonName: "x", Usage: ServerAuth},
		{CommonName: "x", Hosts: []string{"bad name!"}, Usage: ServerAuth},
		{CommonName: "x"},
		{Hosts: []string{"a"}, Usage: ClientAuth},
	} {
		if _, err := ca.Issue(bad, now); err == nil {
			t.Errorf("%+v issued", bad)
		}
	}
	if _, err := ca.Issue(Request{CommonName: "late", Usage: ClientAuth}, now.Add(2*time.Hour)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("issued by an expired CA: %v", err)
	}
}

func TestLoadCA(t *testing.T) {
	dir := t.TempDir()
	_, a, err := NewCA("a", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := NewCA("b", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFiles(dir, append(a.Files("a"), b.Files("b")...), false); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadCA(filepath.Join(dir, "a.pem"), filepath.Join(dir, "a-key.pem"))
	if err != nil || !ca.Cert.Equal(a.Cert) {
		t.Fatalf("load: %v", err)
	}
	if _, err := LoadCA(filepath.Join(dir, "a.pem"), filepath.Join(dir, "b-key.pem")); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("mismatched key: %v", err)
	}
	leaf, err := ca.Issue(Request{CommonName: "leaf", Usage: ClientAuth}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFiles(dir, leaf.Files("leaf"), false); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "leaf-key.pem")); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Fatalf("leaf as a CA: %v", err)
	}
}

func TestWriteFilesRefusesToOverwrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	files := []File{{Name: "one.pem", Data: []byte("1"), Mode: 0o644}, {Name: "two-key.pem", Data: []byte("2"), Mode: 0o600}}
	if err := WriteFiles(dir, files, false); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(dir, f.Name))
		if err != nil || fi.Mode().Perm() != f.Mode {
			t.Fatalf("%s: %v %v", f.Name, fi.Mode(), err)
		}
	}
	again := []File{{Name: "three.pem", Data: []byte("3"), Mode: 0o644}, {Name: "two-key.pem", Data: []byte("new"), Mode: 0o600}}
	if err := WriteFiles(dir, again, false); !errors.Is(err, ErrExists) {
		t.Fatalf("overwrite without asking: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "three.pem")); err == nil {
		t.Fatal("a refused write wrote some of its files")
	}
	if err := WriteFiles(dir, again, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "two-key.pem")); string(b) != "new" {
		t.Fatalf("after overwrite: %q", b)
	}
}

func TestKeyPairReloads(t *testing.T) {
	dir := t.TempDir()
	ca, _, err := NewCA("ca", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	issue := func(cn string) *Pair {
		p, err := ca.Issue(Request{CommonName: cn, Usage: ClientAuth}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := issue("first")
	if err := WriteFiles(dir, first.Files("agent"), false); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	kp, err := LoadKeyPair(filepath.Join(dir, "agent.pem"), filepath.Join(dir, "agent-key.pem"), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	cn := func() string {
		c, err := kp.GetClientCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.Subject.CommonName
	}
	if got := cn(); got != "first" {
		t.Fatalf("loaded %q", got)
	}
	// Half a rotation (the new certificate, the old key) keeps the old pair.
	second := issue("second")
	if err := WriteFiles(dir, second.Files("agent")[:1], true); err != nil {
		t.Fatal(err)
	}
	if got := cn(); got != "first" || !strings.Contains(logs.String(), "do not load") {
		t.Fatalf("half rotated: %q; logs: %s", got, logs.String())
	}
	if err := WriteFiles(dir, second.Files("agent")[1:], true); err != nil {
		t.Fatal(err)
	}
	if got := cn(); got != "second" || !strings.Contains(logs.String(), "TLS certificate reloaded") {
		t.Fatalf("rotated: %q; logs: %s", got, logs.String())
	}
	if _, err := LoadKeyPair(filepath.Join(dir, "agent.pem"), filepath.Join(dir, "missing.pem"), nil); err == nil {
		t.Fatal("a missing key loaded")
	}
}

// TestClientTransport makes real TLS handshakes with a server that requires a client
// certificate: trusted through the CA file and presenting the client pair, the request
// succeeds; without the CA file the server is not trusted; without the pair the server
// refuses; bad files are errors naming them.
func TestClientTransport(t *testing.T) {
	dir := t.TempDir()
	ca, caPair, err := NewCA("ca", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.Issue(Request{CommonName: "collector", Hosts: []string{"127.0.0.1"}, Usage: ServerAuth}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Issue(Request{CommonName: "agent", Usage: ClientAuth}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range [][]File{caPair.Files("ca"), server.Files("collector"), client.Files("agent")} {
		if err := WriteFiles(dir, f, false); err != nil {
			t.Fatal(err)
		}
	}
	file := func(name string) string { return filepath.Join(dir, name) }
	pool, err := LoadPool(file("ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	srvPair, err := LoadKeyPair(file("collector.pem"), file("collector-key.pem"), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*srvPair.Certificate()}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes below are expected
	srv.StartTLS()
	defer srv.Close()

	get := func(caFile, cert, key string) (string, error) {
		tr, err := ClientTransport(caFile, cert, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if got, err := get(file("ca.pem"), file("agent.pem"), file("agent-key.pem")); err != nil || got != "agent" {
		t.Fatalf("with CA and client certificate: %q, %v", got, err)
	}
	if _, err := get("", file("agent.pem"), file("agent-key.pem")); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA file: %v, want an unknown authority", err)
	}
	if _, err := get(file("ca.pem"), "", ""); err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("without a client certificate: %v, want the server's certificate required alert (HTTP/1.1 keeps it)", err)
	}
	if _, err := ClientTransport(file("agent-key.pem"), "", "", nil); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Fatalf("a key as CA file: %v", err)
	}
	if _, err := ClientTransport("", file("agent.pem"), "", nil); err == nil || !strings.Contains(err.Error(), "go together") {
		t.Fatalf("a certificate without its key: %v", err)
	}
}
