// Package apptest runs a real collector (collector/app, with its embedded etcd unless the
// options name an external cluster) for the tests of other packages, on 127.0.0.1 until the
// test ends. It is imported by tests only.
package apptest

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/collector/app"
	"github.com/onus-project/onus/internal/testutil/bg"
)

// The secrets Start gives a collector whose options leave them unset.
const (
	EnrollSecret = "apptest-enroll-secret-0123456789"
	AdminToken   = "apptest-admin-token-0123456789"
	ReadToken    = "apptest-read-token-0123456789"
)

// StatusFlushInterval is how often a collector started by Start writes host statuses
// unless its options say otherwise.
const StatusFlushInterval = 50 * time.Millisecond

// ReadyTimeout bounds how long Start waits for the collector to be ready.
const ReadyTimeout = 30 * time.Second

// Collector is a collector started by Start.
type Collector struct {
	// App is the running collector.
	App *app.Collector
	// Registry is the registry Start made for the metrics: the Registerer and the Gatherer
	// unless the options gave them.
	Registry *prometheus.Registry
	// Options are the options the collector runs with, the defaults filled in.
	Options app.Options

	task   *bg.Task
	runErr error // Run's error, set before task.Stop returns
}

// Start runs a collector with opts until the test ends or Stop, and waits until it is
// ready. Where opts leave them unset it listens on 127.0.0.1:0, serves plain HTTP (unless
// TLS files are given), keeps its embedded etcd in a t.TempDir() (unless external etcd
// endpoints are given), uses EnrollSecret (unless an enroll secrets file is given),
// AdminToken and ReadToken, writes host statuses every StatusFlushInterval and registers
// its metrics in a fresh registry.
func Start(t testing.TB, opts app.Options) *Collector {
	t.Helper()
	reg := prometheus.NewRegistry()
	fill(t, &opts, reg)
	a, err := app.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	c := &Collector{App: a, Registry: reg, Options: opts}
	c.task = bg.Go(t, "collector", func(ctx context.Context) error {
		c.runErr = a.Run(ctx)
		return c.runErr
	})
	c.task.Wait(a.Ready(), ReadyTimeout)
	return c
}

// fill sets the defaults Start documents where opts leave them unset.
func fill(t testing.TB, opts *app.Options, reg *prometheus.Registry) {
	if opts.ListenAddress == "" {
		opts.ListenAddress = "127.0.0.1:0"
	}
	if opts.TLSCertFile == "" && opts.TLSKeyFile == "" {
		opts.InsecureHTTP = true
	}
	if opts.DataDir == "" && len(opts.EtcdEndpoints) == 0 {
		opts.DataDir = t.TempDir()
	}
	if opts.EnrollSecret == "" && opts.EnrollSecretFile == "" {
		opts.EnrollSecret = EnrollSecret
	}
	if opts.AdminToken == "" {
		opts.AdminToken = AdminToken
	}
	if opts.ReadToken == "" {
		opts.ReadToken = ReadToken
	}
	if opts.StatusFlushInterval == 0 {
		opts.StatusFlushInterval = StatusFlushInterval
	}
	if opts.Registerer == nil {
		opts.Registerer = reg
	}
	if opts.Gatherer == nil {
		opts.Gatherer = reg
	}
}

// Addr is the HOST:PORT the collector's API listens on.
func (c *Collector) Addr() string { return c.App.Addr() }

// URL is the base URL of the collector's API: http:// or https:// and Addr.
func (c *Collector) URL() string {
	if c.Options.TLSCertFile != "" {
		return "https://" + c.Addr()
	}
	return "http://" + c.Addr()
}

// Stop stops the collector and returns Run's error, which also fails the test. Only the
// first call stops it; later ones return the same error. The end of the test stops it too.
func (c *Collector) Stop() error {
	c.task.Stop()
	return c.runErr
}
