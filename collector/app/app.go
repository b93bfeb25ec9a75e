// Package app assembles a collector: the store (embedded etcd, or a client of an external
// cluster), the in-memory index, ingestion and the HTTP API, and runs them until its context
// ends.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/onus-project/onus/collector/api"
	"github.com/onus-project/onus/collector/index"
	"github.com/onus-project/onus/collector/ingest"
	"github.com/onus-project/onus/collector/metrics"
	"github.com/onus-project/onus/collector/ownership"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
	"github.com/onus-project/onus/internal/version"
)

// Options configure a collector. Exactly one of DataDir (embedded etcd) and EtcdEndpoints
// (external cluster) is used: endpoints win when both are set.
type Options struct {
	// ListenAddress is where the API listens (HOST:PORT; port 0 picks one, see Addr).
	ListenAddress string
	// TLSCertFile and TLSKeyFile serve HTTPS; without them InsecureHTTP must be set.
	TLSCertFile, TLSKeyFile string
	InsecureHTTP            bool
	// TLSClientAuth asks clients of the API for a certificate signed by TLSClientCAFile:
	// ClientAuthNone (the default), ClientAuthVerifyIfGiven or ClientAuthRequire.
	TLSClientCAFile, TLSClientAuth string

	// DataDir holds the embedded etcd's data.
	DataDir string
	// EtcdClientURL, with the embedded store, also serves etcd's client API there.
	EtcdClientURL string
	// EtcdEndpoints switch to an external etcd cluster, with optional TLS.
	EtcdEndpoints                         []string
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string
	EtcdUsername, EtcdPassword            string
	EtcdQuotaBytes                        int64
	EtcdCompactionRetention               time.Duration
	Prefix                                string
	EnrollSecret, AdminToken              string
	// EnrollSecretFile holds more enroll secrets, one per line (see
	// ingest.ParseEnrollSecrets), all accepted besides EnrollSecret; it is read again on
	// SIGHUP and when it changes (checked every EnrollSecretCheckInterval, default 5 s).
	EnrollSecretFile          string
	EnrollSecretCheckInterval time.Duration
	// ReenrollPolicy is what an enrollment of an enrolled host ID without its credential
	// gets: approve (held for an admin, the default), refuse or allow (unsafe); see
	// ingest.ReenrollPolicy. PendingRetryAfter is when such an agent asks again (30 s).
	// EnrollRateLimit bounds failed enrollments per address and overall.
	ReenrollPolicy    string
	PendingRetryAfter time.Duration
	EnrollRateLimit   ingest.RateLimit
	// ReadToken, when set, authorizes the admin API's reads only.
	ReadToken            string
	StatusFlushInterval  time.Duration
	Limits               protocol.Limits
	MaxConcurrentReports int
	// MaxReportMemory bounds the memory of all the reports in flight (api.DefaultMaxReportMemory
	// when 0); ReportReadGrace and ReportMinRate how slowly a report's body may arrive (see
	// api.Options).
	MaxReportMemory int64
	ReportReadGrace time.Duration
	ReportMinRate   int64
	// MetricsAuth says who may read /metrics: "none" (the default: whoever reaches the
	// listener) or "read-token" (the read-only or the admin token; needs ReadToken).
	MetricsAuth string
	Logger      *slog.Logger
	// Registerer receives the collector's metrics (a new registry when nil); /metrics
	// serves it together with the default registry, where embedded etcd registers its own.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer

	// UnownedNewMetricLimit caps the onus_software_unowned_new_info series (default 100,
	// the most widespread titles first; negative: no cap).
	UnownedNewMetricLimit int
	// NewSoftwareWindow is how recently unowned new software was first seen in the fleet
	// for the metrics (default 7 days).
	NewSoftwareWindow time.Duration
	// StaleAfter: a host that has not reported for longer counts as stale (default 3
	// minutes, three heartbeat intervals).
	StaleAfter time.Duration
	// StaleTolerated is how many stale hosts the OnusHostsStale alert tolerates (default 0),
	// shown as onus_hosts_stale_tolerated.
	StaleTolerated int
	// Now is the clock of the fleet metrics (default time.Now); tests set it.
	Now func() time.Time

	// EtcdDialTimeout bounds connecting to the external cluster at start (10 s when 0).
	EtcdDialTimeout time.Duration
	// StoreTimeout bounds each etcd request (store.DefaultTimeout when 0): without quorum a
	// request fails after it with 503 instead of hanging.
	StoreTimeout time.Duration
	// StoreProbeInterval is how often readiness checks that the store takes writes (2 s
	// when 0).
	StoreProbeInterval time.Duration
}

// Collector is a running collector.
type Collector struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	addr     string
	listened chan struct{}
	ready    chan struct{}
	endpoint string

	// secrets and secretsInfo are the enroll secrets file as New read it.
	secrets     []string
	secretsInfo os.FileInfo
}

// EtcdEndpoint returns the client URL of the embedded etcd ("" with an external cluster).
func (c *Collector) EtcdEndpoint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endpoint
}

// New validates opts. It starts nothing.
func New(opts Options) (*Collector, error) {
	if opts.ListenAddress == "" {
		return nil, errors.New("collector: no listen address")
	}
	if (opts.TLSCertFile == "") != (opts.TLSKeyFile == "") {
		return nil, errors.New("collector: --tls-cert-file and --tls-key-file go together")
	}
	if opts.TLSCertFile == "" && !opts.InsecureHTTP {
		return nil, errors.New("collector: give --tls-cert-file and --tls-key-file, or --insecure-http to serve plain HTTP (local use only)")
	}
	if _, err := serverTLS(opts, nil); err != nil {
		return nil, err
	}
	if len(opts.EtcdEndpoints) == 0 && opts.DataDir == "" {
		return nil, errors.New("collector: give --data-dir for the embedded store or --etcd-endpoints for an external cluster")
	}
	var secrets []string
	var secretsInfo os.FileInfo
	if opts.EnrollSecretFile != "" {
		var err error
		if secrets, secretsInfo, err = readEnrollSecrets(opts.EnrollSecretFile); err != nil {
			return nil, fmt.Errorf("collector: %w", err)
		}
	}
	if opts.EnrollSecret == "" && len(secrets) == 0 {
		return nil, errors.New("collector: no enroll secret (--enroll-secret-file)")
	}
	if opts.AdminToken == "" {
		return nil, errors.New("collector: no admin token (--admin-token-file)")
	}
	switch opts.MetricsAuth {
	case "", api.MetricsAuthNone:
	case api.MetricsAuthReadToken:
		if opts.ReadToken == "" {
			return nil, errors.New("collector: --metrics-auth read-token needs --read-token-file, the token Prometheus scrapes with")
		}
	default:
		return nil, fmt.Errorf("collector: --metrics-auth %q: want none or read-token", opts.MetricsAuth)
	}
	if opts.ReadToken != "" && opts.ReadToken == opts.AdminToken {
		return nil, errors.New("collector: the read-only token must differ from the admin token")
	}
	if opts.NewSoftwareWindow < 0 || opts.StaleAfter < 0 || opts.StaleTolerated < 0 {
		return nil, errors.New("collector: --new-software-window, --stale-after and --stale-hosts-tolerated cannot be negative")
	}
	if opts.EtcdQuotaBytes < 0 || opts.StoreTimeout < 0 {
		return nil, errors.New("collector: --etcd-quota-bytes and --store-timeout cannot be negative")
	}
	if _, err := ingest.ParseReenrollPolicy(opts.ReenrollPolicy); err != nil {
		return nil, fmt.Errorf("collector: --reenroll-policy: %w", err)
	}
	if opts.Prefix == "" {
		opts.Prefix = store.DefaultPrefix
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Collector{opts: opts, log: log, listened: make(chan struct{}), ready: make(chan struct{}), secrets: secrets, secretsInfo: secretsInfo}, nil
}

// Listening is closed once the API listens; Addr then tells where.
func (c *Collector) Listening() <-chan struct{} { return c.listened }

// Addr returns the address the API listens on ("" before Listening is closed).
func (c *Collector) Addr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addr
}

// Ready is closed once the index has synced with the store; it exists from New on.
func (c *Collector) Ready() <-chan struct{} { return c.ready }

// Run starts the store, the index and the API, and serves until ctx ends; then it stops
// taking requests, finishes those in flight, writes the pending statuses and closes the store.
func (c *Collector) Run(ctx context.Context) error {
	cli, closeStore, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	p, err := c.assemble(ctx, cli)
	if err != nil {
		return err
	}
	if p.secrets != nil {
		defer p.secrets.stop()
	}
	tlsConfig, err := serverTLS(c.opts, c.log.With("component", "tls"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.opts.ListenAddress)
	if err != nil {
		return fmt.Errorf("collector: %w", err)
	}
	srv := &http.Server{Handler: p.handler, TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 5 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(c.log.Handler(), slog.LevelWarn)}
	c.mu.Lock()
	c.addr = ln.Addr().String()
	c.mu.Unlock()
	close(c.listened)
	return c.serve(ctx, p, srv, ln)
}

// parts are the pieces of a running collector, wired together.
type parts struct {
	ix      *index.Index
	ing     *ingest.Ingest
	probe   *storeProbe
	secrets *secretsWatcher // nil without an enroll secrets file
	handler http.Handler
}

// assemble builds the collector's pieces on the etcd client: the store (its schema
// checked), the index, the fleet metrics, ingest, the store probe, the enroll secrets
// watcher and the API, with every metric registered.
func (c *Collector) assemble(ctx context.Context, cli *clientv3.Client) (*parts, error) {
	st, err := store.New(cli, c.opts.Prefix)
	if err != nil {
		return nil, err
	}
	st.SetTimeout(c.opts.StoreTimeout)
	if err := st.EnsureSchema(ctx); err != nil {
		return nil, err
	}
	reg, gatherer := c.opts.Registerer, c.opts.Gatherer
	if reg == nil {
		r := prometheus.NewRegistry()
		reg = r
		if gatherer == nil {
			gatherer = prometheus.Gatherers{prometheus.DefaultGatherer, r}
		}
	}
	p := &parts{}
	if p.ix, err = index.New(index.Options{Store: st, Logger: c.log.With("component", "index"), Registerer: reg}); err != nil {
		return nil, err
	}
	fleet, err := metrics.New(metrics.Options{Index: p.ix, UnownedNewLimit: c.opts.UnownedNewMetricLimit,
		NewSoftwareWindow: c.opts.NewSoftwareWindow, StaleAfter: c.opts.StaleAfter,
		StaleTolerated: c.opts.StaleTolerated, Now: c.opts.Now})
	if err != nil {
		return nil, err
	}
	for _, m := range append(st.Collectors(), fleet, version.BuildInfo()) {
		if err := reg.Register(m); err != nil {
			return nil, err
		}
	}
	go func() {
		select {
		case <-p.ix.Ready():
			close(c.ready)
		case <-ctx.Done():
		}
	}()
	p.ing, err = ingest.New(ingest.Options{Store: st, Index: p.ix, EnrollSecret: c.opts.EnrollSecret, EnrollSecrets: c.secrets, StatusFlushInterval: c.opts.StatusFlushInterval,
		ReenrollPolicy: ingest.ReenrollPolicy(c.opts.ReenrollPolicy), PendingRetryAfter: c.opts.PendingRetryAfter, EnrollRateLimit: c.opts.EnrollRateLimit,
		Logger: c.log.With("component", "ingest"), Registerer: reg})
	if err != nil {
		return nil, err
	}
	if p.probe, err = newStoreProbe(st, c.opts.StoreProbeInterval, c.log.With("component", "store"), reg); err != nil {
		return nil, err
	}
	if c.opts.EnrollSecretFile != "" {
		if p.secrets, err = newSecretsWatcher(c, p.ing, reg); err != nil {
			return nil, err
		}
	}
	p.handler, err = api.New(api.Options{Ingest: p.ing, Index: p.ix, Ownership: ownership.New(st, p.ix), Written: st.Written,
		AdminToken: c.opts.AdminToken, ReadToken: c.opts.ReadToken, Limits: c.opts.Limits,
		MaxConcurrentReports: c.opts.MaxConcurrentReports, Gatherer: gatherer, Logger: c.log.With("component", "api"),
		Maintenance: cli, Writable: p.probe.Err, Registerer: reg, MaxReportMemory: c.opts.MaxReportMemory, BodyReadGrace: c.opts.ReportReadGrace,
		BodyMinRate: c.opts.ReportMinRate, MetricsAuth: c.opts.MetricsAuth})
	if err != nil {
		if p.secrets != nil {
			p.secrets.stop()
		}
		return nil, err
	}
	return p, nil
}

// serve runs the pieces and the HTTP server until ctx ends or serving fails, then shuts
// down in order: requests first, then the pending statuses are written, then the index.
func (c *Collector) serve(ctx context.Context, p *parts, srv *http.Server, ln net.Listener) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(3)
	go func() { defer wg.Done(); errs <- p.ix.Run(runCtx) }()
	go func() { defer wg.Done(); p.probe.run(runCtx) }()
	ingCtx, stopIngest := context.WithCancel(context.Background())
	go func() { defer wg.Done(); errs <- p.ing.Run(ingCtx) }()
	if p.secrets != nil {
		wg.Add(1)
		go func() { defer wg.Done(); p.secrets.run(runCtx) }()
	}
	serveErr := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			serveErr <- srv.ServeTLS(ln, "", "")
		} else {
			serveErr <- srv.Serve(ln)
		}
	}()
	scheme := "https"
	if c.opts.TLSCertFile == "" {
		scheme = "http"
	}
	c.log.Info("collector listening", "url", scheme+"://"+c.Addr(), "prefix", c.opts.Prefix)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("collector: serving: %w", err)
	}
	shutCtx, done := context.WithTimeout(context.Background(), 15*time.Second)
	defer done()
	if err := srv.Shutdown(shutCtx); err != nil {
		c.log.Warn("collector shutdown: requests cut short", "err", err)
	}
	// The requests are done: write what they left pending, then stop the index.
	stopIngest()
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			c.log.Warn("collector shutdown", "err", err)
		}
	}
	return runErr
}

// EmbeddedEtcdDir is where a collector with data directory dataDir keeps its embedded etcd.
func EmbeddedEtcdDir(dataDir string) string { return filepath.Join(dataDir, "etcd") }

func (c *Collector) openStore(ctx context.Context) (*clientv3.Client, func(), error) {
	if len(c.opts.EtcdEndpoints) > 0 {
		co := store.ClientOptions{Endpoints: c.opts.EtcdEndpoints, CAFile: c.opts.EtcdCAFile,
			CertFile: c.opts.EtcdCertFile, KeyFile: c.opts.EtcdKeyFile, Username: c.opts.EtcdUsername, Password: c.opts.EtcdPassword,
			DialTimeout: c.opts.EtcdDialTimeout}
		cli, err := store.Dial(ctx, co)
		if err != nil {
			return nil, nil, explainEtcdTLS(co, err)
		}
		c.log.Info("using external etcd", "endpoints", c.opts.EtcdEndpoints)
		return cli, func() { cli.Close() }, nil
	}
	dir := EmbeddedEtcdDir(c.opts.DataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("collector: data dir: %w", err)
	}
	e, err := store.StartEmbedded(store.EmbedOptions{Dir: dir, ClientURL: c.opts.EtcdClientURL, QuotaBytes: c.opts.EtcdQuotaBytes,
		CompactionRetention: c.opts.EtcdCompactionRetention, Logger: c.log})
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	c.endpoint = e.Endpoint()
	c.mu.Unlock()
	c.log.Info("embedded etcd started", "dir", dir, "client_url", e.Endpoint())
	return e.Client(), e.Close, nil
}
