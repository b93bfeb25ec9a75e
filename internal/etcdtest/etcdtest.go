// Package etcdtest starts a real etcd server for tests: embedded, on 127.0.0.1 with a random
// port, its data in the test's temporary directory, stopped when the test ends.
package etcdtest

import (
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
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
