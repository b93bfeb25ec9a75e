package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/onus-project/onus/internal/pki"
	"github.com/onus-project/onus/internal/store"
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

// explainEtcdTLS adds to err, a failure to reach an external etcd cluster, what a TLS
// handshake with each https endpoint says: the etcd client only reports its timeout, not
// that the server's certificate is not trusted or that the client certificate was refused.
func explainEtcdTLS(opts store.ClientOptions, err error) error {
	tc, terr := opts.TLSConfig()
	if terr != nil {
		return err
	}
	if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	var why []string
	for _, ep := range opts.Endpoints {
		host := ep
		if u, perr := url.Parse(ep); perr == nil && u.Host != "" {
			if u.Scheme != "https" {
				continue
			}
			host = u.Host
		} else if opts.CAFile == "" && opts.CertFile == "" {
			continue
		}
		if msg := probeTLS(host, tc, opts); msg != "" {
			why = append(why, ep+": "+msg)
		}
	}
	if len(why) == 0 {
		return err
	}
	return fmt.Errorf("%w (TLS: %s)", err, strings.Join(why, "; "))
}

// probeTLS makes a TLS handshake with addr and waits a moment for the server to refuse the
// client certificate, which TLS 1.3 tells only after the handshake. It returns what went
// wrong, "" when nothing did.
func probeTLS(addr string, base *tls.Config, opts store.ClientOptions) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	tc := base.Clone()
	tc.ServerName = host
	tc.NextProtos = []string{"h2"}
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, tc)
	if err == nil {
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
		var ne net.Error
		if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			return ""
		}
	}
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostErr x509.HostnameError
	var op *net.OpError
	switch {
	case errors.As(err, &unknown), errors.As(err, &invalid):
		return fmt.Sprintf("the server's certificate is not trusted with --etcd-ca-file %q: %v", opts.CAFile, err)
	case errors.As(err, &hostErr):
		return fmt.Sprintf("the server's certificate does not name %s: %v", host, err)
	case errors.As(err, &op) && op.Op == "remote error":
		if opts.CertFile == "" {
			return fmt.Sprintf("the server requires a client certificate (--etcd-cert-file, --etcd-key-file): %v", err)
		}
		return fmt.Sprintf("the server refused the client certificate %s: %v", opts.CertFile, err)
	}
	return err.Error()
}
