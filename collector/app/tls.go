package app

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"

	"github.com/onus-project/onus/internal/pki"
)

// The values of Options.TLSClientAuth.
const (
	// ClientAuthNone asks no client for a certificate (the default).
	ClientAuthNone = "none"
	// ClientAuthVerifyIfGiven verifies a client certificate when one is presented.
	ClientAuthVerifyIfGiven = "verify-if-given"
	// ClientAuthRequire refuses, at the TLS handshake, a client without a certificate
	// signed by the client CA: agents, the CLI and Prometheus alike.
	ClientAuthRequire = "require"
)

// serverTLS returns the API's TLS configuration, nil for plain HTTP. The certificate is read
// again when its files change, so a renewed certificate needs no restart; the client CA is
// read once.
func serverTLS(opts Options, log *slog.Logger) (*tls.Config, error) {
	mode := opts.TLSClientAuth
	if mode == "" {
		mode = ClientAuthNone
	}
	var auth tls.ClientAuthType
	switch mode {
	case ClientAuthNone:
		auth = tls.NoClientCert
		if opts.TLSClientCAFile != "" {
			return nil, fmt.Errorf("collector: --tls-client-ca-file needs --tls-client-auth %s or %s", ClientAuthVerifyIfGiven, ClientAuthRequire)
		}
	case ClientAuthVerifyIfGiven:
		auth = tls.VerifyClientCertIfGiven
	case ClientAuthRequire:
		auth = tls.RequireAndVerifyClientCert
	default:
		return nil, fmt.Errorf("collector: --tls-client-auth %q: want %s, %s or %s", mode, ClientAuthNone, ClientAuthVerifyIfGiven, ClientAuthRequire)
	}
	if opts.TLSCertFile == "" {
		if auth != tls.NoClientCert {
			return nil, errors.New("collector: --tls-client-auth needs TLS (--tls-cert-file and --tls-key-file)")
		}
		return nil, nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kp, err := pki.LoadKeyPair(opts.TLSCertFile, opts.TLSKeyFile, log)
	if err != nil {
		return nil, fmt.Errorf("collector: TLS key pair: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: kp.GetCertificate, ClientAuth: auth}
	if auth != tls.NoClientCert {
		if opts.TLSClientCAFile == "" {
			return nil, fmt.Errorf("collector: --tls-client-auth %s needs --tls-client-ca-file", mode)
		}
		if tc.ClientCAs, err = pki.LoadPool(opts.TLSClientCAFile); err != nil {
			return nil, fmt.Errorf("collector: --tls-client-ca-file: %w", err)
		}
	}
	return tc, nil
}
