package app

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
)

// TestSlowBodyHTTP2 cuts off a slow report body over HTTP/2 (TLS) as over HTTP/1.1: the
// read deadline is the stream's, and the answer a 408 while a good report on the same
// connection is accepted.
func TestSlowBodyHTTP2(t *testing.T) {
	dir := t.TempDir()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "onus-collector"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	leaf, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)

	c := start(t, Options{DataDir: t.TempDir(), TLSCertFile: cert, TLSKeyFile: key, ReportReadGrace: time.Second, ReportMinRate: 1024})
	url := "https://" + c.Addr()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	post := func(cred string, body io.Reader, gz bool) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", url+protocol.PathReport, body)
		if cred != "" {
			req.Header.Set("Authorization", "Bearer "+cred)
		} else {
			req.URL.Path = protocol.PathEnroll
		}
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	enrollH2 := func(id string) string {
		resp, b := post("", bytes.NewReader(marshal(t, protocol.EnrollRequest{EnrollSecret: secret, HostID: id})), true)
		var er protocol.EnrollResponse
		if resp.StatusCode != 200 || json.Unmarshal([]byte(b), &er) != nil {
			t.Fatalf("enroll over HTTP/2: %d %s", resp.StatusCode, b)
		}
		return er.Credential
	}
	slowCred := enrollH2("slow-h2")
	inv := fixture.Golden(t, "debian12")
	goodCred := enrollH2(inv.Host.ID)

	pr, pw := io.Pipe()
	stop := make(chan struct{})
	go func() {
		pw.Write([]byte("{"))
		for {
			select {
			case <-stop:
				pw.Close()
				return
			case <-time.After(300 * time.Millisecond):
				if _, err := pw.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	slow := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("POST", url+protocol.PathReport, pr)
		req.Header.Set("Authorization", "Bearer "+slowCred)
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- resp.Proto + " " + resp.Status + " after " + time.Since(t0).Round(10*time.Millisecond).String() + ": " + string(b)
	}()
	time.Sleep(200 * time.Millisecond)
	full, _ := fullReport(inv, 1)
	if resp, b := post(goodCred, bytes.NewReader(marshal(t, full)), true); resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Errorf("a good report while a slow body arrives: %s %d %s", resp.Proto, resp.StatusCode, b)
	}
	select {
	case s := <-slow:
		t.Log(s)
		if !strings.HasPrefix(s, "HTTP/2.0 408 ") || !strings.Contains(s, "report body too slow") {
			t.Errorf("slow body over HTTP/2 answered %q, want 408", s)
		}
	case <-time.After(10 * time.Second):
		t.Error("the slow body over HTTP/2 was not cut off")
	}
	close(stop)
}
