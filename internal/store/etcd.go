package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// EmbedOptions configure the embedded etcd server.
type EmbedOptions struct {
	// Dir holds etcd's data (member/ with the WAL and the bbolt database).
	Dir string
	// ClientURL, when set (e.g. "http://127.0.0.1:2379"), also serves etcd's client API on
	// that address, so other tools (etcdctl, a second collector) can reach the store. Empty
	// serves it on a random loopback port only.
	ClientURL string
	// QuotaBytes is the backend quota; 0 means 2 GiB, etcd's default.
	QuotaBytes int64
	// CompactionRetention keeps this much history (periodic compaction); 0 means 10 minutes:
	// status shards are rewritten every flush, and their history must not fill the quota.
	CompactionRetention time.Duration
	// StartTimeout bounds the wait for the server to be ready; 0 means 60 s.
	StartTimeout time.Duration
	// Logger receives etcd's warnings and errors; nil discards them.
	Logger *slog.Logger
	// Registerer-free: etcd registers its metrics in the Prometheus default registry.
}

// Embedded is a single-member etcd server running in this process.
type Embedded struct {
	etcd   *embed.Etcd
	client *clientv3.Client
}

// StartEmbedded starts an etcd server with its data in opts.Dir and waits until it serves.
// EmbeddedMember is the single member StartEmbedded runs on a store in dir (an absolute
// path): its name, its peer URL (a socket file in dir) and its cluster token. A snapshot
// restored into dir must name the member the same way.
func EmbeddedMember(dir string) (name, peerURL, clusterToken string) {
	return "onus", "unix://" + filepath.Join(dir, "peer.sock"), "etcd-cluster"
}

func StartEmbedded(opts EmbedOptions) (*Embedded, error) {
	if opts.Dir == "" {
		return nil, errors.New("embedded etcd: no data directory")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded etcd: %w", err)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	name, peer, token := EmbeddedMember(dir)
	cfg.Name, cfg.InitialClusterToken = name, token
	cfg.Dir = dir
	// By default the client API is a socket file in the data directory: the collector talks
	// to the server in-process, and nothing listens on the network.
	client := opts.ClientURL
	if sock := filepath.Join(dir, "client.sock"); client == "" && len(sock) < 100 {
		client = "unix://" + sock
		_ = os.Remove(sock)
	} else if client == "" {
		// Too long for a socket address: fall back to a random loopback port.
		client = "http://127.0.0.1:0"
	}
	cu, err := url.Parse(client)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd client URL: %w", err)
	}
	// The peer listener is never used by a single member; a socket file in the data
	// directory keeps it off the network.
	pu, err := url.Parse(peer)
	if err != nil {
		return nil, err
	}
	_ = os.Remove(pu.Host + pu.Path)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.QuotaBackendBytes = opts.QuotaBytes
	retention := opts.CompactionRetention
	if retention == 0 {
		retention = 10 * time.Minute
	}
	// etcd keeps every raft entry since its last snapshot in memory and replays them from
	// the WAL at start: its default of 100,000 entries holds a whole enrollment wave (each
	// entry a transaction of up to 100 keys), which costs the collector gigabytes and a
	// restart tens of seconds. A snapshot every 10,000 entries bounds both; a single member
	// has no follower that would need the older entries.
	cfg.SnapshotCount = 10_000
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = retention.String()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zapToSlog(opts.Logger))
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: %w", err)
	}
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = time.Minute
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(timeout):
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("embedded etcd: not ready after %s", timeout)
	}
	return &Embedded{etcd: e, client: v3client.New(e.Server)}, nil
}

// Client returns an in-process client of the server.
func (e *Embedded) Client() *clientv3.Client { return e.client }

// Endpoint returns the URL of the server's client API.
func (e *Embedded) Endpoint() string {
	addr := e.etcd.Clients[0].Addr()
	if addr.Network() == "unix" {
		return "unix://" + addr.String()
	}
	return "http://" + addr.String()
}

// Close stops the server after in-flight requests finish.
func (e *Embedded) Close() {
	e.client.Close()
	e.etcd.Close()
}

// ClientOptions configure a client of an external etcd cluster.
type ClientOptions struct {
	Endpoints []string
	// CAFile, CertFile and KeyFile configure TLS (client certificates are optional).
	CAFile, CertFile, KeyFile string
	Username, Password        string
	DialTimeout               time.Duration
}

// TLSConfig is the TLS configuration of the client: nil without CAFile and CertFile.
func (opts ClientOptions) TLSConfig() (*tls.Config, error) {
	if opts.CAFile == "" && opts.CertFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("etcd CA: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd CA: no certificate in %s", opts.CAFile)
		}
	}
	if opts.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Dial connects to an external etcd cluster and checks that it answers.
func Dial(ctx context.Context, opts ClientOptions) (*clientv3.Client, error) {
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	cfg := clientv3.Config{
		Endpoints:   opts.Endpoints,
		DialTimeout: opts.DialTimeout,
		Username:    opts.Username,
		Password:    opts.Password,
		Logger:      zap.NewNop(),
		// Requests larger than etcd's own limit fail on the server with a clear error.
		MaxCallSendMsgSize: 2 << 20,
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	tc, err := opts.TLSConfig()
	if err != nil {
		return nil, err
	}
	cfg.TLS = tc
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if _, err := cli.Get(cctx, "health-check", clientv3.WithCountOnly()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("etcd %v: %w", opts.Endpoints, err)
	}
	return cli, nil
}

// zapToSlog returns a zap logger that hands warnings and errors to log (etcd is chatty at
// info level).
func zapToSlog(log *slog.Logger) *zap.Logger {
	if log == nil {
		return zap.NewNop()
	}
	return zap.New(&slogCore{log: log.With("component", "etcd"), repeats: &repeats{}})
}

type slogCore struct {
	log     *slog.Logger
	fields  []zapcore.Field
	repeats *repeats
}

// repeatEvery is how often one etcd message is passed on: a full backend logs two warnings
// per refused request ("failed to apply request", "message exceeded backend quota").
const repeatEvery = 10 * time.Second

// repeats remembers when each message was last logged and how many were dropped since.
type repeats struct {
	mu      sync.Mutex
	last    map[string]time.Time
	dropped map[string]int
}

// pass reports whether msg may be logged now, with the number of its lines dropped since
// it last was.
func (r *repeats) pass(msg string, now time.Time) (dropped int, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last, r.dropped = map[string]time.Time{}, map[string]int{}
	}
	if t, seen := r.last[msg]; seen && now.Sub(t) < repeatEvery {
		r.dropped[msg]++
		return 0, false
	}
	n := r.dropped[msg]
	r.last[msg], r.dropped[msg] = now, 0
	return n, true
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= zapcore.WarnLevel }

func (c *slogCore) With(fs []zapcore.Field) zapcore.Core {
	return &slogCore{log: c.log, fields: append(append([]zapcore.Field(nil), c.fields...), fs...), repeats: c.repeats}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

// quiet lists etcd messages that are expected for an embedded single member and say
// nothing actionable, and the listener errors etcd logs on every clean shutdown.
var quiet = []string{
	"Running http and grpc server on single port",
	"simple token is not cryptographically signed",
	"use of closed network connection",
	"server closed",
	"Server closed",
	"listener closed",
}

func (c *slogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(append([]zapcore.Field(nil), c.fields...), fs...) {
		f.AddTo(enc)
	}
	text := e.Message + " " + fmt.Sprint(enc.Fields["error"])
	for _, q := range quiet {
		if strings.Contains(text, q) {
			return nil
		}
	}
	args := make([]any, 0, 2*len(enc.Fields))
	for k, v := range enc.Fields {
		if k == "stacktrace" {
			continue
		}
		args = append(args, k, v)
	}
	dropped, ok := c.repeats.pass(e.Message, e.Time)
	if !ok {
		return nil
	}
	if dropped > 0 {
		args = append(args, "suppressed", dropped)
	}
	level := slog.LevelWarn
	if e.Level >= zapcore.ErrorLevel {
		level = slog.LevelError
	}
	c.log.Log(context.Background(), level, e.Message, args...)
	return nil
}

func (c *slogCore) Sync() error { return nil }
