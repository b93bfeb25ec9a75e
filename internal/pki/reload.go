package pki

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// KeyPair is a TLS certificate and key kept in two files and read again when either file
// changes (its size, modification time or inode), so that a rotated certificate is used
// from the next handshake on. A pair that does not load (a half-written rotation, a key that
// does not match) leaves the previous one in use and is logged once per change.
type KeyPair struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]stamp
	badSeen [2]stamp // the stamps of the last change that failed to load
}

type stamp struct {
	size  int64
	mtime time.Time
	ino   uint64
}

// LoadKeyPair reads the pair; it fails when it cannot.
func LoadKeyPair(certFile, keyFile string, log *slog.Logger) (*KeyPair, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("a certificate file and a key file go together")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k := &KeyPair{certFile: certFile, keyFile: keyFile, log: log}
	st, err := k.stamps()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	k.cert, k.stamp = &cert, st
	return k, nil
}

// Certificate returns the current pair, read again first when a file changed.
func (k *KeyPair) Certificate() *tls.Certificate {
	k.mu.Lock()
	defer k.mu.Unlock()
	st, err := k.stamps()
	if err != nil || st == k.stamp {
		if err != nil && st != k.badSeen {
			k.badSeen = st
			k.log.Warn("TLS certificate files unreadable; keeping the loaded certificate", "cert_file", k.certFile, "err", err)
		}
		return k.cert
	}
	cert, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		if st != k.badSeen {
			k.badSeen = st
			k.log.Warn("TLS certificate files changed but do not load; keeping the previous certificate",
				"cert_file", k.certFile, "key_file", k.keyFile, "err", err)
		}
		return k.cert
	}
	k.cert, k.stamp = &cert, st
	attrs := []any{"cert_file", k.certFile}
	if cert.Leaf != nil {
		attrs = append(attrs, "subject", cert.Leaf.Subject.CommonName, "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	k.log.Info("TLS certificate reloaded", attrs...)
	return k.cert
}

// GetCertificate is for tls.Config.GetCertificate (a server's certificate).
func (k *KeyPair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return k.Certificate(), nil
}

// GetClientCertificate is for tls.Config.GetClientCertificate (a client's certificate).
func (k *KeyPair) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return k.Certificate(), nil
}

func (k *KeyPair) stamps() ([2]stamp, error) {
	var out [2]stamp
	for i, f := range []string{k.certFile, k.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return out, err
		}
		out[i] = stamp{size: fi.Size(), mtime: fi.ModTime(), ino: inode(fi)}
	}
	return out, nil
}

// String names the files, for logs.
func (k *KeyPair) String() string { return fmt.Sprintf("%s and %s", k.certFile, k.keyFile) }
