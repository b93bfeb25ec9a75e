package reporter

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/onus-project/onus/internal/pki"
)

// clientCertificate gives tc the agent's client certificate, read again from its files at
// each handshake when they changed.
func clientCertificate(tc *tls.Config, opts Options) error {
	if opts.TLSCertFile == "" && opts.TLSKeyFile == "" {
		return nil
	}
	if opts.TLSCertFile == "" || opts.TLSKeyFile == "" {
		return errors.New("reporter: --tls-cert-file and --tls-key-file go together")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kp, err := pki.LoadKeyPair(opts.TLSCertFile, opts.TLSKeyFile, log.With("component", "tls"))
	if err != nil {
		return fmt.Errorf("reporter: client certificate: %w", err)
	}
	tc.GetClientCertificate = kp.GetClientCertificate
	return nil
}

// certAlerts are the TLS alerts a server sends about the client's certificate.
var certAlerts = []string{"certificate required", "bad certificate", "unknown certificate authority", "certificate expired",
	"unsupported certificate", "certificate revoked", "certificate unknown"}

// explainTLS says what a TLS alert from the collector about the client certificate means
// for this agent; other errors are returned as they are.
func (r *Reporter) explainTLS(err error) error {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return err
	}
	alert := op.Err.Error()
	found := false
	for _, a := range certAlerts {
		found = found || strings.Contains(alert, a)
	}
	if !found {
		return err
	}
	if r.opts.TLSCertFile == "" {
		return fmt.Errorf("the collector refused the TLS handshake: it requires a client certificate (--tls-cert-file, --tls-key-file): %w", err)
	}
	return fmt.Errorf("the collector refused the TLS handshake with the client certificate %s (not signed by its client CA, expired, or not for client authentication): %w",
		r.opts.TLSCertFile, err)
}
