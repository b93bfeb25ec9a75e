package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/onus-project/onus/collector/app"
	"github.com/onus-project/onus/internal/etcdtest"
	"github.com/onus-project/onus/internal/pki"
	"github.com/onus-project/onus/internal/store"
	"github.com/onus-project/onus/internal/testutil/fixture"
)

// TestExternalEtcdTLS runs a collector against an etcd that serves TLS and requires client
// certificates, all made by the private CA: a report is stored there. With the wrong CA the
// collector stops at start with an error that says so, within its dial timeout and the probe's.
func TestExternalEtcdTLS(t *testing.T) {
	p := newTestPKI(t)
	p.issue(t, "etcd-server", pki.Request{CommonName: "127.0.0.1", Hosts: []string{"127.0.0.1"}, Usage: pki.ServerAuth | pki.ClientAuth})
	p.issue(t, "etcd-client", pki.Request{CommonName: "onus-collector", Usage: pki.ClientAuth})
	etcd := etcdtest.StartTLS(t, etcdtest.TLSFiles{CertFile: p.cert("etcd-server"), KeyFile: p.key("etcd-server"), ClientCAFile: p.cert("ca")})

	etcdOpts := app.Options{InsecureHTTP: true, EtcdEndpoints: []string{etcd.Endpoint()}, EtcdCAFile: p.cert("ca"),
		EtcdCertFile: p.cert("etcd-client"), EtcdKeyFile: p.key("etcd-client")}
	addr := runCollector(t, etcdOpts).Addr()
	root := fixture.CopyRoot(t, fixture.Root(t, "debian12"))
	startAgent(t, root, t.TempDir(), "http://"+addr)
	waitHost(t, "http://"+addr, hostID, 20*time.Second, "first report", func(d *hostDetail) bool { return len(d.Software) > 0 })

	// The host record is in the TLS etcd, read back with the collector's client certificate.
	cli, err := store.Dial(context.Background(), store.ClientOptions{Endpoints: []string{etcd.Endpoint()}, CAFile: p.cert("ca"),
		CertFile: p.cert("etcd-client"), KeyFile: p.key("etcd-client")})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(context.Background(), store.DefaultPrefix+"hosts/"+hostID, clientv3.WithCountOnly())
	if err != nil || resp.Count != 1 {
		t.Fatalf("host record in etcd: %v %v", resp, err)
	}

	for _, tc := range []struct {
		name string
		edit func(*app.Options)
		want string
	}{
		{"wrong CA", func(o *app.Options) { o.EtcdCAFile = p.cert("other-ca") }, "not trusted with --etcd-ca-file"},
		{"no client certificate", func(o *app.Options) { o.EtcdCertFile, o.EtcdKeyFile = "", "" }, "requires a client certificate (--etcd-cert-file"},
		{"client certificate of another CA", func(o *app.Options) { o.EtcdCertFile, o.EtcdKeyFile = p.cert("rogue"), p.key("rogue") }, "refused the client certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := etcdOpts
			tc.edit(&opts)
			opts.ListenAddress, opts.EnrollSecret, opts.AdminToken, opts.EtcdDialTimeout = "127.0.0.1:0", secret, admin, time.Second
			c, err := app.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = c.Run(context.Background())
			took := time.Since(start)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run: %v, want an error about %q", err, tc.want)
			}
			if took > 4*time.Second {
				t.Fatalf("Run failed after %s, beyond its 1s dial timeout", took)
			}
			t.Logf("after %s: %v", took.Round(time.Millisecond), err)
		})
	}
}
