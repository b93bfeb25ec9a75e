package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
)

// ClientConfig is the TLS configuration of a client of the collector (agent, client
// commands, load generator): it trusts the system's roots plus the certificates of caFile
// when given, and presents the certificate of certFile and keyFile when given, read again
// when those files change.
func ClientConfig(caFile, certFile, keyFile string, log *slog.Logger) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		tc.RootCAs = pool
	}
	if certFile == "" && keyFile == "" {
		return tc, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("a client certificate file and its key file go together")
	}
	kp, err := LoadKeyPair(certFile, keyFile, log)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	tc.GetClientCertificate = kp.GetClientCertificate
	return tc, nil
}

// ClientTransport is http.DefaultTransport with ClientConfig's TLS, speaking HTTP/1.1: a
// client of the collector sends one request at a time and needs no HTTP/2, and over HTTP/2 a
// client certificate the collector refuses surfaces as "client conn could not be
// established" instead of the TLS alert that says why.
func ClientTransport(caFile, certFile, keyFile string, log *slog.Logger) (*http.Transport, error) {
	tc, err := ClientConfig(caFile, certFile, keyFile, log)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ForceAttemptHTTP2 = false
	tr.TLSClientConfig = tc
	return tr, nil
}
