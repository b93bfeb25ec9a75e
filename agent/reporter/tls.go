package reporter

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
)

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
	if !slices.ContainsFunc(certAlerts, func(a string) bool { return strings.Contains(alert, a) }) {
		return err
	}
	if r.opts.TLSCertFile == "" {
		return fmt.Errorf("the collector refused the TLS handshake: it requires a client certificate (--tls-cert-file, --tls-key-file): %w", err)
	}
	return fmt.Errorf("the collector refused the TLS handshake with the client certificate %s (not signed by its client CA, expired, or not for client authentication): %w",
		r.opts.TLSCertFile, err)
}
