// Command onus-collector receives the agents' reports, keeps the fleet's inventory and
// ownership registry in etcd, and serves them over HTTP and to Prometheus.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/onus-project/onus/collector/api"
	"github.com/onus-project/onus/collector/app"
	"github.com/onus-project/onus/collector/cli"
	"github.com/onus-project/onus/collector/ingest"
	"github.com/onus-project/onus/collector/metrics"
	"github.com/onus-project/onus/internal/cliconf"
	"github.com/onus-project/onus/internal/store"
	"github.com/onus-project/onus/internal/version"
)

var usage = `Usage: onus-collector <command> [flags]

Commands:
  serve       run the collector (embedded etcd by default, or --etcd-endpoints)
  certs       make a private CA and the collector's, agents' and etcd's certificates
  restore     restore a backup (onus-collector backup) into an embedded store's data dir, offline
  version     print the version and exit

Ownership commands (talk to a collector: --server URL --token-file F [--ca-file F] [--cert-file F --key-file F]):
` + cli.Commands + `
Run "onus-collector <command> -h" for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if cli.Handles(args[0]) {
		return cli.Run(args, stdout, stderr)
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "certs":
		return certs(args[1:], stdout, stderr)
	case "restore":
		return restore(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "onus-collector", version.String())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "onus-collector: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// config is the YAML configuration file; flags given on the command line override it.
type config struct {
	ListenAddress       string        `yaml:"listen_address"`
	TLSCertFile         string        `yaml:"tls_cert_file"`
	TLSKeyFile          string        `yaml:"tls_key_file"`
	TLSClientCAFile     string        `yaml:"tls_client_ca_file"`
	TLSClientAuth       string        `yaml:"tls_client_auth"`
	InsecureHTTP        bool          `yaml:"insecure_http"`
	DataDir             string        `yaml:"data_dir"`
	EtcdClientURL       string        `yaml:"etcd_client_url"`
	EtcdEndpoints       []string      `yaml:"etcd_endpoints"`
	EtcdCAFile          string        `yaml:"etcd_ca_file"`
	EtcdCertFile        string        `yaml:"etcd_cert_file"`
	EtcdKeyFile         string        `yaml:"etcd_key_file"`
	EtcdPrefix          string        `yaml:"etcd_prefix"`
	EtcdQuotaBytes      int64         `yaml:"etcd_quota_bytes"`
	StoreTimeout        time.Duration `yaml:"store_timeout"`
	EnrollSecretFile    string        `yaml:"enroll_secret_file"`
	AdminTokenFile      string        `yaml:"admin_token_file"`
	ReadTokenFile       string        `yaml:"read_token_file"`
	StatusFlushInterval time.Duration `yaml:"status_flush_interval"`
	MaxReportBytes      int64         `yaml:"max_report_bytes"`
	MaxDecodedBytes     int64         `yaml:"max_decoded_report_bytes"`
	LogLevel            string        `yaml:"log_level"`
	LogFormat           string        `yaml:"log_format"`
	UnownedNewLimit     int           `yaml:"unowned_new_metric_limit"`
	NewSoftwareWindow   time.Duration `yaml:"new_software_window"`
	StaleAfter          time.Duration `yaml:"stale_after"`
	StaleTolerated      int           `yaml:"stale_hosts_tolerated"`
	MaxReportMemory     int64         `yaml:"max_report_memory"`
	ReportReadGrace     time.Duration `yaml:"report_read_grace"`
	ReportMinRate       int64         `yaml:"report_min_rate"`
	MetricsAuth         string        `yaml:"metrics_auth"`
	ReenrollPolicy      string        `yaml:"reenroll_policy"`
	EnrollRateLimit     float64       `yaml:"enroll_rate_limit"`
	EnrollRateLimitAll  float64       `yaml:"enroll_rate_limit_total"`
	DebugAddress        string        `yaml:"debug_address"`
}

// serveCommand reads the settings of "onus-collector serve": defaults, --config, flags.
var serveCommand = cliconf.Command[config]{
	Name:        "serve",
	ConfigUsage: "YAML configuration file (flags override it)",
	Defaults:    defaultConfig,
	Bind:        bindServe,
}

func defaultConfig() config {
	return config{ListenAddress: "127.0.0.1:8443", DataDir: "/var/lib/onus-collector", EtcdPrefix: store.DefaultPrefix,
		StatusFlushInterval: ingest.DefaultStatusFlushInterval, StoreTimeout: store.DefaultTimeout, LogLevel: "info", LogFormat: "text",
		UnownedNewLimit: metrics.DefaultUnownedNewLimit, NewSoftwareWindow: metrics.DefaultNewSoftwareWindow, StaleAfter: metrics.DefaultStaleAfter, TLSClientAuth: app.ClientAuthNone,
		MaxReportMemory: api.DefaultMaxReportMemory, ReportReadGrace: api.DefaultBodyReadGrace, ReportMinRate: api.DefaultBodyMinRate,
		MetricsAuth:    api.MetricsAuthNone,
		ReenrollPolicy: string(ingest.PolicyApprove), EnrollRateLimit: ingest.DefaultEnrollRatePerAddress, EnrollRateLimitAll: ingest.DefaultEnrollRateTotal}
}

// bindServe defines the flags of serve, each writing into cfg.
func bindServe(fs *flag.FlagSet, cfg *config) {
	fs.StringVar(&cfg.ListenAddress, "listen-address", cfg.ListenAddress, "address of the API (HOST:PORT)")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert-file", cfg.TLSCertFile, "TLS certificate (PEM) of the API")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key-file", cfg.TLSKeyFile, "TLS private key (PEM) of the API")
	fs.StringVar(&cfg.TLSClientCAFile, "tls-client-ca-file", cfg.TLSClientCAFile, "CA certificate(s) (PEM) that sign the clients' TLS certificates")
	fs.StringVar(&cfg.TLSClientAuth, "tls-client-auth", cfg.TLSClientAuth, "client certificates: none, verify-if-given or require (agents, CLI and Prometheus alike)")
	fs.BoolVar(&cfg.InsecureHTTP, "insecure-http", cfg.InsecureHTTP, "serve plain HTTP without TLS (local use only)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "data directory of the embedded etcd")
	fs.StringVar(&cfg.EtcdClientURL, "etcd-client-url", cfg.EtcdClientURL, "also serve the embedded etcd's client API on this URL (default: a random loopback port)")
	fs.Var(commaList{&cfg.EtcdEndpoints}, "etcd-endpoints", "comma-separated `URLs` of an external etcd cluster (instead of the embedded store)")
	fs.StringVar(&cfg.EtcdCAFile, "etcd-ca-file", cfg.EtcdCAFile, "CA certificate of the external etcd cluster")
	fs.StringVar(&cfg.EtcdCertFile, "etcd-cert-file", cfg.EtcdCertFile, "client certificate for the external etcd cluster")
	fs.StringVar(&cfg.EtcdKeyFile, "etcd-key-file", cfg.EtcdKeyFile, "client key for the external etcd cluster")
	fs.StringVar(&cfg.EtcdPrefix, "etcd-prefix", cfg.EtcdPrefix, "key prefix of Onus's data in etcd")
	fs.Int64Var(&cfg.EtcdQuotaBytes, "etcd-quota-bytes", cfg.EtcdQuotaBytes, "backend quota of the embedded etcd in bytes (0: etcd's 2 GiB); at the quota etcd refuses writes (NOSPACE)")
	fs.DurationVar(&cfg.StoreTimeout, "store-timeout", cfg.StoreTimeout, "deadline of each etcd request; past it the client gets 503 with Retry-After")
	fs.StringVar(&cfg.EnrollSecretFile, "enroll-secret-file", cfg.EnrollSecretFile, "file holding the enroll secrets agents may present, one per line (re-read on SIGHUP and when it changes)")
	fs.StringVar(&cfg.AdminTokenFile, "admin-token-file", cfg.AdminTokenFile, "file holding the admin API's bearer token")
	fs.StringVar(&cfg.ReadTokenFile, "read-token-file", cfg.ReadTokenFile, "file holding a read-only token of the admin API (GET requests only)")
	fs.DurationVar(&cfg.StatusFlushInterval, "status-flush-interval", cfg.StatusFlushInterval, "how often host liveness and capacity are written")
	fs.IntVar(&cfg.UnownedNewLimit, "unowned-new-metric-limit", cfg.UnownedNewLimit, "most series of onus_software_unowned_new_info, the most widespread titles first (-1: no cap)")
	fs.Var(days{&cfg.NewSoftwareWindow}, "new-software-window", "how recently software first seen in the fleet counts as new in the metrics (e.g. 7d, 36h)")
	fs.DurationVar(&cfg.StaleAfter, "stale-after", cfg.StaleAfter, "a host that has not reported for longer counts as stale (three heartbeat intervals)")
	fs.IntVar(&cfg.StaleTolerated, "stale-hosts-tolerated", cfg.StaleTolerated, "stale hosts the OnusHostsStale alert tolerates before it fires (0: any stale host), shown as onus_hosts_stale_tolerated")
	fs.Int64Var(&cfg.MaxReportMemory, "max-report-memory", cfg.MaxReportMemory, "bytes all reports in flight may hold at once (compressed bodies plus three times the decompressed ones); more get 429")
	fs.DurationVar(&cfg.ReportReadGrace, "report-read-grace", cfg.ReportReadGrace, "time a report's body may take before --report-min-rate applies, and the longest pause within it")
	fs.Int64Var(&cfg.ReportMinRate, "report-min-rate", cfg.ReportMinRate, "bytes per second a report's body must average after --report-read-grace, else 408")
	fs.StringVar(&cfg.DebugAddress, "debug-address", cfg.DebugAddress, "serve Go's profiles (/debug/pprof/) on this loopback address, 127.0.0.1:6060 (default: not)")
	fs.StringVar(&cfg.MetricsAuth, "metrics-auth", cfg.MetricsAuth, "who may read /metrics: none (whoever reaches the listener) or read-token (the read-only or admin token as a bearer token)")
	fs.StringVar(&cfg.ReenrollPolicy, "reenroll-policy", cfg.ReenrollPolicy, "enrollment of an enrolled host ID without its credential: approve (held for an admin), refuse, or allow (unsafe: the enroll secret takes over any host)")
	fs.Float64Var(&cfg.EnrollRateLimit, "enroll-rate-limit", cfg.EnrollRateLimit, "failed enrollments (wrong secret, held or refused takeover) allowed per second from one address, bursts of ten seconds' worth (-1: no limit)")
	fs.Float64Var(&cfg.EnrollRateLimitAll, "enroll-rate-limit-total", cfg.EnrollRateLimitAll, "failed enrollments allowed per second from all addresses together (-1: no limit)")
	cliconf.BindLog(fs, &cfg.LogLevel, &cfg.LogFormat)
}

func serve(args []string, stderr io.Writer) int {
	parsed, _, err := serveCommand.Parse(args, stderr)
	var flagErr *cliconf.FlagError
	if errors.As(err, &flagErr) {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "onus-collector serve: %v\n", err)
		return 2
	}
	cfg := *parsed
	log, err := cliconf.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		fmt.Fprintf(stderr, "onus-collector serve: %v\n", err)
		return 2
	}
	// The enroll secrets file (one or more secrets) is read, and re-read, by the collector.
	if cfg.EnrollSecretFile == "" {
		fmt.Fprintf(stderr, "onus-collector serve: --enroll-secret-file is required\n")
		return 2
	}
	token, err := readSecret(cfg.AdminTokenFile, "--admin-token-file")
	if err != nil {
		fmt.Fprintf(stderr, "onus-collector serve: %v\n", err)
		return 2
	}
	readToken := ""
	if cfg.ReadTokenFile != "" {
		if readToken, err = readSecret(cfg.ReadTokenFile, "--read-token-file"); err != nil {
			fmt.Fprintf(stderr, "onus-collector serve: %v\n", err)
			return 2
		}
	}
	opts := app.Options{ReadToken: readToken, ListenAddress: cfg.ListenAddress, TLSCertFile: cfg.TLSCertFile, TLSKeyFile: cfg.TLSKeyFile, InsecureHTTP: cfg.InsecureHTTP,
		TLSClientCAFile: cfg.TLSClientCAFile, TLSClientAuth: cfg.TLSClientAuth,
		DataDir: cfg.DataDir, EtcdClientURL: cfg.EtcdClientURL, EtcdEndpoints: cfg.EtcdEndpoints, EtcdCAFile: cfg.EtcdCAFile,
		EtcdCertFile: cfg.EtcdCertFile, EtcdKeyFile: cfg.EtcdKeyFile, Prefix: cfg.EtcdPrefix, EtcdQuotaBytes: cfg.EtcdQuotaBytes, StoreTimeout: cfg.StoreTimeout, EnrollSecretFile: cfg.EnrollSecretFile, AdminToken: token,
		StatusFlushInterval: cfg.StatusFlushInterval, Logger: log,
		MaxReportMemory: cfg.MaxReportMemory, ReportReadGrace: cfg.ReportReadGrace, ReportMinRate: cfg.ReportMinRate, MetricsAuth: cfg.MetricsAuth,
		UnownedNewMetricLimit: cfg.UnownedNewLimit, NewSoftwareWindow: cfg.NewSoftwareWindow, StaleAfter: cfg.StaleAfter,
		StaleTolerated: cfg.StaleTolerated,
		ReenrollPolicy: cfg.ReenrollPolicy, EnrollRateLimit: ingest.RateLimit{PerAddress: cfg.EnrollRateLimit, Total: cfg.EnrollRateLimitAll}}
	if cfg.MaxReportBytes > 0 || cfg.MaxDecodedBytes > 0 {
		opts.Limits = protocolLimits(cfg.MaxReportBytes, cfg.MaxDecodedBytes)
	}
	c, err := app.New(opts)
	if err != nil {
		fmt.Fprintf(stderr, "onus-collector serve: %v\n", err)
		return 2
	}
	if cfg.DebugAddress != "" {
		stopDebug, err := startDebug(cfg.DebugAddress, log)
		if err != nil {
			fmt.Fprintf(stderr, "onus-collector serve: %v\n", err)
			return 2
		}
		defer stopDebug()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := c.Run(ctx); err != nil {
		log.Error("collector stopped", "err", err)
		return 1
	}
	log.Info("collector stopped")
	return 0
}

// commaList is a flag of comma-separated values, such as URLs.
type commaList struct{ p *[]string }

func (v commaList) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

func (v commaList) Set(s string) error {
	*v.p = nil
	if s != "" {
		*v.p = strings.Split(s, ",")
	}
	return nil
}

// days is a duration flag that also takes a number of days ("7d").
type days struct{ d *time.Duration }

func (v days) String() string {
	if v.d == nil {
		return ""
	}
	if *v.d > 0 && *v.d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(*v.d/(24*time.Hour))) + "d"
	}
	return v.d.String()
}

func (v days) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if k, err := strconv.Atoi(n); err == nil && k > 0 {
			*v.d = time.Duration(k) * 24 * time.Hour
			return nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("want a positive duration such as 7d or 36h")
	}
	*v.d = d
	return nil
}

// loadConfig decodes the YAML file at path onto cfg strictly, as serve does.
func loadConfig(path string, cfg *config) error { return cliconf.LoadFile(path, cfg) }

func readSecret(path, flagName string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%s is required", flagName)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flagName, err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 16 {
		return "", fmt.Errorf("%s: %s holds %d characters; use at least 16 (e.g. openssl rand -hex 32)", flagName, path, len(s))
	}
	return s, nil
}
