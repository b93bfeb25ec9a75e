// Package etcdtest starts a real etcd server for tests: embedded, on 127.0.0.1 with a random
// port, its data in the test's temporary directory, stopped when the test ends.
package etcdtest

import (
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/onus-project/onus/internal/store"
)

// Server is a running test etcd.
type Server struct {
	*store.Embedded
}

// Start starts an etcd server for t and registers its shutdown with t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	e, err := store.StartEmbedded(store.EmbedOptions{Dir: t.TempDir(), ClientURL: "http://127.0.0.1:0", StartTimeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(e.Close)
	return &Server{Embedded: e}
}

// New starts an etcd server for t and returns a client of it.
func New(t testing.TB) *clientv3.Client {
	t.Helper()
	return Start(t).Client()
}

// Dial returns a new network client of s (as a second collector replica would have),
// closed when the test ends.
func (s *Server) Dial(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{s.Endpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// TLSFiles are the PEM files of a TLS test etcd: its server certificate and key, and the CA
// that clients' certificates must chain to.
type TLSFiles struct {
	CertFile, KeyFile, ClientCAFile string
}

// TLSServer is a running test etcd whose client API is HTTPS on 127.0.0.1 and requires a
// client certificate, as a production cluster would.
type TLSServer struct {
	etcd *embed.Etcd
}

// StartTLS starts an etcd server for t serving TLS with files, and registers its shutdown
// with t.Cleanup.
func StartTLS(t testing.TB, files TLSFiles) *TLSServer {
	t.Helper()
	dir := t.TempDir()
	cfg := embed.NewConfig()
	cfg.Name = "onus-test"
	cfg.Dir = filepath.Join(dir, "data")
	cu, _ := url.Parse("https://127.0.0.1:0")
	pu, _ := url.Parse("unix://" + filepath.Join(dir, "peer.sock"))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.ClientTLSInfo = transport.TLSInfo{CertFile: files.CertFile, KeyFile: files.KeyFile, TrustedCAFile: files.ClientCAFile, ClientCertAuth: true}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		t.Fatalf("etcdtest: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("etcdtest: TLS etcd not ready after 30s")
	}
	return &TLSServer{etcd: e}
}

// Endpoint returns the https:// URL of the server's client API.
func (s *TLSServer) Endpoint() string {
	return "https://" + s.etcd.Clients[0].Addr().String()
}
