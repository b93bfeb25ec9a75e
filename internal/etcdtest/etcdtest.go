// Package etcdtest starts real etcd servers for tests: embedded, on 127.0.0.1 with random
// ports, their data in the test's temporary directory, stopped when the test ends. Start
// runs one member; StartCluster runs several, which a test can stop and start again.
package etcdtest

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
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

// Cluster is a running test etcd cluster: members on 127.0.0.1, each with its own data
// directory, which a test can stop and start again to take quorum away and give it back.
type Cluster struct {
	t       testing.TB
	members []*member
}

type member struct {
	cfg  *embed.Config
	etcd *embed.Etcd
}

// StartCluster starts an n-member etcd cluster for t and registers its shutdown with
// t.Cleanup. Its URLs stay the same across StopMember and StartMember, as a real member's
// would, so clients given Endpoints find a restarted member again.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	dir := t.TempDir()
	var initial []string
	for i := range n {
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = filepath.Join(dir, cfg.Name)
		cu, pu := freeURL(t), freeURL(t)
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
		cfg.InitialClusterToken = "onus-test-cluster"
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		initial = append(initial, cfg.Name+"="+pu.String())
		c.members = append(c.members, &member{cfg: cfg})
	}
	for _, m := range c.members {
		m.cfg.InitialCluster = strings.Join(initial, ",")
	}
	t.Cleanup(func() {
		for i := range c.members {
			c.StopMember(i)
		}
	})
	for i := range c.members {
		c.launch(i)
	}
	for i := range c.members {
		c.waitReady(i)
	}
	return c
}

// freeURL returns an http:// URL of a 127.0.0.1 port that was free a moment ago: peer URLs
// must be known before any member starts.
func freeURL(t testing.TB) url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	defer ln.Close()
	return url.URL{Scheme: "http", Host: ln.Addr().String()}
}

func (c *Cluster) launch(i int) {
	c.t.Helper()
	m := c.members[i]
	e, err := embed.StartEtcd(m.cfg)
	if err != nil {
		c.t.Fatalf("etcdtest: member %d: %v", i, err)
	}
	m.etcd = e
}

func (c *Cluster) waitReady(i int) {
	c.t.Helper()
	e := c.members[i].etcd
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		c.t.Fatalf("etcdtest: member %d: %v", i, err)
	case <-time.After(30 * time.Second):
		c.t.Fatalf("etcdtest: member %d not ready after 30s", i)
	}
}

// Endpoints returns the client URLs of every member, running or not.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.cfg.AdvertiseClientUrls[0].String())
	}
	return eps
}

// Client returns a network client of every member, closed when the test ends.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// StopMember stops member i (a no-op when it is stopped).
func (c *Cluster) StopMember(i int) {
	m := c.members[i]
	if m.etcd == nil {
		return
	}
	m.etcd.Close()
	m.etcd = nil
}

// StartMembers starts the stopped members among ids again from their data directories, and
// waits until they serve (which needs a quorum of members running: start together the
// members that make one).
func (c *Cluster) StartMembers(ids ...int) {
	c.t.Helper()
	var started []int
	for _, i := range ids {
		if c.members[i].etcd == nil {
			c.launch(i)
			started = append(started, i)
		}
	}
	for _, i := range started {
		c.waitReady(i)
	}
}
