// Command onus-agent inventories the host it runs on: its facts and capacity, installed
// software and services. "onus-agent run" reports them to onus-collector and keeps doing so
// (see package reporter); "onus-agent inventory" prints the inventory once as JSON.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/inventory"
	"github.com/onus-project/onus/agent/reporter"
	"github.com/onus-project/onus/internal/cliconf"
	"github.com/onus-project/onus/internal/version"
)

const usage = `Usage: onus-agent <command> [flags]

Commands:
  run         enroll with onus-collector and report this host's inventory until stopped
  inventory   print this host's inventory as JSON and exit
  version     print the version and exit

Run "onus-agent <command> -h" for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runCmd(ctx, args[1:], stderr)
	case "inventory":
		return inventoryCmd(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "onus-agent", version.String())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "onus-agent: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// labelFlag collects repeated --label key=value flags.
type labelFlag map[string]string

func (l labelFlag) String() string { return fmt.Sprint(map[string]string(l)) }

func (l labelFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return errors.New("want key=value")
	}
	l[k] = val
	return nil
}

func inventoryCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inventory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("host-root", "/", "the host's root file system (mount it read-only in a container and point here)")
	stateDir := fs.String("state-dir", defaultStateDir, "the agent's state directory (keeps a generated host ID)")
	only := fs.String("sources", "", "comma-separated sources to run (default: all of this platform's)")
	compact := fs.Bool("compact", false, "print the JSON on one line")
	logLevel := "warn"
	cliconf.BindLog(fs, &logLevel, nil)
	labels := labelFlag{}
	fs.Var(labels, "label", "a host label key=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "onus-agent inventory: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	log, err := cliconf.NewLogger(stderr, logLevel, "")
	if err != nil {
		fmt.Fprintf(stderr, "onus-agent inventory: %v\n", err)
		return 2
	}
	opts := inventory.Options{Root: hostfs.Root(*root), StateDir: *stateDir, Labels: labels, Logger: log}
	if *only != "" {
		opts.Only = strings.Split(*only, ",")
	}
	if len(labels) == 0 {
		opts.Labels = nil
	}
	inv, err := inventory.New(opts)
	if err != nil {
		fmt.Fprintf(stderr, "onus-agent inventory: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, err := inv.Collect(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "onus-agent inventory: %v\n", err)
		return 1
	}
	var w io.Writer = stdout
	var iw *indentWriter
	if !*compact {
		iw = newIndentWriter(stdout)
		w = iw
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	err = enc.Encode(out)
	if err == nil && iw != nil {
		err = iw.Flush()
	}
	if err != nil {
		fmt.Fprintf(stderr, "onus-agent inventory: %v\n", err)
		return 1
	}
	return 0
}

// runConfig holds the settings of "onus-agent run": the YAML file's keys, which the flags
// override.
type runConfig struct {
	CollectorURL      string            `yaml:"collector_url"`
	EnrollSecretFile  string            `yaml:"enroll_secret_file"`
	StateDir          string            `yaml:"state_dir"`
	HostRoot          string            `yaml:"host_root"`
	CAFile            string            `yaml:"ca_file"`
	TLSCertFile       string            `yaml:"tls_cert_file"`
	TLSKeyFile        string            `yaml:"tls_key_file"`
	InsecureHTTP      bool              `yaml:"insecure_http"`
	Labels            map[string]string `yaml:"labels"`
	HeartbeatInterval time.Duration     `yaml:"heartbeat_interval"`
	FullInterval      time.Duration     `yaml:"full_interval"`
	BackoffMax        time.Duration     `yaml:"backoff_max"`
	LogLevel          string            `yaml:"log_level"`
	MetricsAddress    string            `yaml:"metrics_address"`
}

// defaultStateDir is where run and inventory keep their state unless told otherwise:
// /var/lib/onus-agent, or on Windows %ProgramData%\Onus\agent (statedir_windows.go).
var defaultStateDir = platformStateDir()

func defaultRunConfig() runConfig {
	return runConfig{
		StateDir:          defaultStateDir,
		HostRoot:          "/",
		Labels:            map[string]string{},
		HeartbeatInterval: reporter.DefaultHeartbeatInterval,
		FullInterval:      reporter.DefaultFullInterval,
		LogLevel:          "info",
	}
}

// runCommand reads the settings of "onus-agent run": defaults, --config, flags.
var runCommand = cliconf.Command[runConfig]{
	Name:        "run",
	ConfigUsage: "a YAML file with these settings as snake_case keys (flags override it)",
	Defaults:    defaultRunConfig,
	Bind:        runFlags,
}

// runFlags binds the flags of "onus-agent run" to cfg.
func runFlags(fs *flag.FlagSet, cfg *runConfig) {
	if cfg.Labels == nil { // a file's "labels:" with no value
		cfg.Labels = map[string]string{}
	}
	fs.StringVar(&cfg.CollectorURL, "collector-url", cfg.CollectorURL, "the collector's URL, https://HOST:PORT (required)")
	fs.StringVar(&cfg.EnrollSecretFile, "enroll-secret-file", cfg.EnrollSecretFile, "a file holding the fleet's enroll secret (required)")
	fs.StringVar(&cfg.StateDir, "state-dir", cfg.StateDir, "the agent's state directory: credential, last accepted state, event journal")
	fs.StringVar(&cfg.HostRoot, "host-root", cfg.HostRoot, "the host's root file system (mount it read-only in a container and point here)")
	fs.StringVar(&cfg.CAFile, "ca-file", cfg.CAFile, "a PEM file of CA certificates to trust for the collector, besides the system's")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert-file", cfg.TLSCertFile, "the agent's TLS client certificate (PEM), for a collector that asks for one; re-read when it changes")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key-file", cfg.TLSKeyFile, "the key (PEM) of --tls-cert-file")
	fs.BoolVar(&cfg.InsecureHTTP, "insecure-http", cfg.InsecureHTTP, "allow a plain http:// collector URL (local use only)")
	fs.Var(labelFlag(cfg.Labels), "label", "a host label key=value (repeatable)")
	fs.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", cfg.HeartbeatInterval, "how often to collect everything and report, changed or not")
	fs.DurationVar(&cfg.FullInterval, "full-interval", cfg.FullInterval, "how often to send a full report as a safety net")
	fs.DurationVar(&cfg.BackoffMax, "backoff-max", cfg.BackoffMax, "the longest wait between retries while the collector is unreachable (default: the heartbeat interval, at most 5m)")
	cliconf.BindLog(fs, &cfg.LogLevel, nil)
	fs.StringVar(&cfg.MetricsAddress, "metrics-address", cfg.MetricsAddress, "HOST:PORT to serve the agent's /metrics on (empty: off)")
}

// loadRunConfig parses the flags of "onus-agent run" and the YAML file --config names.
func loadRunConfig(args []string, stderr io.Writer) (runConfig, error) {
	parsed, _, err := runCommand.Parse(args, stderr)
	if err != nil {
		return runConfig{}, err
	}
	cfg := *parsed
	switch {
	case cfg.CollectorURL == "":
		return cfg, errors.New("--collector-url is required")
	case cfg.EnrollSecretFile == "":
		return cfg, errors.New("--enroll-secret-file is required")
	case cfg.StateDir == "":
		return cfg, errors.New("--state-dir is required")
	}
	return cfg, nil
}

// runCmd is "onus-agent run": it reports until ctx ends.
func runCmd(ctx context.Context, args []string, stderr io.Writer) int {
	cfg, err := loadRunConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "onus-agent run: %v\n", err)
		return 2
	}
	log, err := cliconf.NewLogger(stderr, cfg.LogLevel, "")
	if err != nil {
		fmt.Fprintf(stderr, "onus-agent run: %v\n", err)
		return 2
	}
	secret, err := os.ReadFile(cfg.EnrollSecretFile)
	if err != nil {
		fmt.Fprintf(stderr, "onus-agent run: --enroll-secret-file: %v\n", err)
		return 1
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	inv, err := inventory.New(inventory.Options{Root: hostfs.Root(cfg.HostRoot), StateDir: cfg.StateDir, Labels: cfg.Labels,
		Registerer: reg, Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "onus-agent run: %v\n", err)
		return 1
	}
	rep, err := reporter.New(reporter.Options{
		CollectorURL:      cfg.CollectorURL,
		CAFile:            cfg.CAFile,
		TLSCertFile:       cfg.TLSCertFile,
		TLSKeyFile:        cfg.TLSKeyFile,
		InsecureHTTP:      cfg.InsecureHTTP,
		EnrollSecret:      strings.TrimSpace(string(secret)),
		StateDir:          cfg.StateDir,
		Inventory:         inv,
		HostRoot:          hostfs.Root(cfg.HostRoot),
		HeartbeatInterval: cfg.HeartbeatInterval,
		FullInterval:      cfg.FullInterval,
		BackoffMax:        cfg.BackoffMax,
		Logger:            log,
		Registerer:        reg,
	})
	if err != nil {
		fmt.Fprintf(stderr, "onus-agent run: %v\n", err)
		return 2
	}
	if cfg.MetricsAddress != "" {
		ln, err := net.Listen("tcp", cfg.MetricsAddress)
		if err != nil {
			fmt.Fprintf(stderr, "onus-agent run: --metrics-address: %v\n", err)
			return 1
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		log.Info("serving metrics", "address", ln.Addr().String())
	}
	log.Info("onus-agent running", "version", version.String(), "collector", cfg.CollectorURL, "state_dir", cfg.StateDir,
		"host_root", cfg.HostRoot)
	if err := rep.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "onus-agent run: %v\n", err)
		return 1
	}
	log.Info("onus-agent stopped")
	return 0
}
