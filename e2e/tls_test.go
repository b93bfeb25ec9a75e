package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/agent/reporter"
	"github.com/onus-project/onus/collector/app"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/wait"
)

// selfSigned writes a CA-less self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "onus-collector"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
}

// TestTLS runs the collector over HTTPS with a certificate the agent trusts through its CA
// file, and checks that an agent without it refuses to talk.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	url := runCollector(t, app.Options{TLSCertFile: cert, TLSKeyFile: key, DataDir: t.TempDir()}).URL()
	root := fixture.CopyRoot(t, fixture.Root(t, "debian12"))

	run := func(caFile string) (*reporter.Reporter, string) {
		state := t.TempDir()
		r := newReporter(t, root, reporter.Options{CollectorURL: url, CAFile: caFile, StateDir: state, BackoffMax: 200 * time.Millisecond})
		return r, state
	}
	// Without the CA, the agent cannot enroll.
	untrusting, state := run("")
	uctx, ucancel := context.WithTimeout(context.Background(), time.Second)
	untrusting.Run(uctx)
	ucancel()
	if _, err := os.Stat(filepath.Join(state, "credential.json")); err == nil {
		t.Fatal("an agent that does not trust the certificate enrolled")
	}
	trusting, _ := run(cert)
	actx, acancel := context.WithCancel(context.Background())
	adone := make(chan error, 1)
	go func() { adone <- trusting.Run(actx) }()
	t.Cleanup(func() { acancel(); <-adone })

	wait.For(t, 20*time.Second, "the host reporting over TLS", func() (bool, string) {
		out, err := httpsGet(url+"/api/v1/hosts/"+hostID, cert)
		return err == nil && strings.Contains(out, `"software"`), fmt.Sprintf("%v %s", err, out)
	})
}

func httpsGet(url, caFile string) (string, error) {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return "", err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
