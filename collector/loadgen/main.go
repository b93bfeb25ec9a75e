// Command onus-loadgen simulates a fleet of onus-agents against a collector and prints what
// the collector carried: reports per second and latencies per phase (enroll, ramp-up with
// the first full reports, steady state with heartbeats and churn deltas), the collector's
// RSS, etcd's database size and write rate.
//
// Against a running collector:
//
//	onus-loadgen --collector-url https://onus.example.com:8443 --enroll-secret-file secret \
//	    --admin-token-file token --hosts 10000 --steady-duration 5m
//
// With the collector's process ID (a collector on this machine, Linux), each phase also
// reports the collector's own CPU, per report and by kind, and its memory, read from /proc:
//
//	onus-loadgen --collector-url http://127.0.0.1:8080 --insecure-http --enroll-secret-file secret \
//	    --collector-pid 4242 --hosts 1000 --interval 5s --steady-duration 2m
//
// (deploy/local/loadtest-split.sh starts such a collector and runs it: make loadtest-split.)
//
// Self-contained, with a collector and embedded etcd started in this process (plain HTTP on
// 127.0.0.1, generated secrets, data in DIR, which must be empty or absent):
//
//	onus-loadgen --embedded-collector /tmp/onus-load --hosts 10000 --steady-duration 5m
//
// See package loadgen (github.com/onus-project/onus/loadgen) for the simulated fleet.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/onus-project/onus/internal/cliconf"
	"github.com/onus-project/onus/internal/version"
	"github.com/onus-project/onus/loadgen"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// settings are the command's flags.
type settings struct {
	url          *string
	secretFile   *string
	adminFile    *string
	insecure     *bool
	caFile       *string
	collPID      *int
	collIdle     *time.Duration
	embedded     *string
	hosts        *int
	concurrency  *int
	minPkgs      *int
	maxPkgs      *int
	pool         *int
	unique       *float64
	services     *int
	listeners    *int
	churn        *float64
	interval     *time.Duration
	steady       *time.Duration
	rounds       *int
	seed         *uint64
	jsonFile     *string
	progress     *time.Duration
	cpuProfile   *string
	memProfile   *string
	mutexProfile *string
	logLevel     *string
	collLogLevel *string
	maxReports   *int
	flushEvery   *time.Duration
	showVersion  *bool
}

// defineFlags defines the command's flags on fs.
func defineFlags(fs *flag.FlagSet) *settings {
	s := &settings{}
	s.url = fs.String("collector-url", "", "base URL of the collector (https://HOST:PORT)")
	s.secretFile = fs.String("enroll-secret-file", "", "file holding the fleet's enroll secret")
	s.adminFile = fs.String("admin-token-file", "", "file holding the admin token: compare the collector's hosts and titles with what was sent (optional)")
	s.insecure = fs.Bool("insecure-http", false, "allow a plain http:// collector URL (local use only)")
	s.caFile = fs.String("ca-file", "", "CA certificates (PEM) trusted for the collector, besides the system's")
	s.collPID = fs.Int("collector-pid", 0, "process ID of the collector on this machine (Linux): read its own CPU and memory from /proc in each phase")
	s.collIdle = fs.Duration("collector-idle", 10*time.Second, "with --collector-pid, measure the collector's CPU for this long with nothing sent, after the full reports (0: not)")
	s.embedded = fs.String("embedded-collector", "", "start a collector with embedded etcd in this process, with its data in `DIR` (empty or absent)")
	s.hosts = fs.Int("hosts", 1000, "simulated hosts")
	s.concurrency = fs.Int("concurrency", loadgen.DefaultConcurrency, "requests in flight at most (one connection each)")
	s.minPkgs = fs.Int("min-packages", loadgen.DefaultMinPackages, "fewest packages of a host")
	s.maxPkgs = fs.Int("max-packages", loadgen.DefaultMaxPackages, "most packages of a host (log-uniform between)")
	s.pool = fs.Int("pool", loadgen.DefaultPool, "titles in the fleet's shared package pool")
	s.unique = fs.Float64("unique-fraction", loadgen.DefaultUniqueFraction, "share of a host's packages no other host has (0: none)")
	s.services = fs.Int("services", loadgen.DefaultServices, "systemd units of each host")
	s.listeners = fs.Int("listeners", loadgen.DefaultListeners, "listening sockets of each host")
	s.churn = fs.Float64("churn", 0.02, "probability that a host installs, removes or upgrades packages in a round")
	s.interval = fs.Duration("interval", loadgen.DefaultInterval, "time between two steady-state reports of a host (0: as fast as the collector answers)")
	s.steady = fs.Duration("steady-duration", 0, "length of the steady state")
	s.rounds = fs.Int("rounds", 0, "steady-state rounds, one report per host each (default 3 without --steady-duration)")
	s.seed = fs.Uint64("seed", 1, "seed of the simulated fleet (the same seed draws the same fleet)")
	s.jsonFile = fs.String("json", "", "also write the results as JSON to `FILE` (\"-\": JSON on stdout, the text on stderr)")
	s.progress = fs.Duration("progress", 10*time.Second, "interval of the progress lines on stderr (0: none)")
	s.cpuProfile = fs.String("cpuprofile", "", "write a CPU profile of each phase to `FILE` with the phase's name inserted (FILE.enroll, ...); with --embedded-collector it shows the collector's work")
	s.memProfile = fs.String("memprofile", "", "write a heap profile at the end of the run to `FILE`")
	s.mutexProfile = fs.String("mutexprofile", "", "write a profile of lock contention over the whole run to `FILE` (with --embedded-collector, the collector's locks; sampling contended locks slows a busy collector down, so keep its figures apart)")
	s.logLevel = fs.String("log-level", "warn", "log level of the generator: debug, info, warn, error")
	s.collLogLevel = fs.String("collector-log-level", "warn", "log level of the embedded collector and its etcd")
	s.maxReports = fs.Int("collector-max-concurrent-reports", 0, "the embedded collector's bound on reports decoded at once (0: its default)")
	s.flushEvery = fs.Duration("collector-status-flush-interval", 0, "the embedded collector's status flush interval (0: its default)")
	s.showVersion = fs.Bool("version", false, "print the version and exit")
	return s
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("onus-loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	s := defineFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *s.showVersion {
		fmt.Fprintln(stdout, "onus-loadgen", version.String())
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "onus-loadgen: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	opts, collLog, err := s.options(set, stderr)
	if err != nil {
		return fail(stderr, "%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	emb, code := s.collector(ctx, &opts, collLog, stderr)
	if code != 0 {
		return code
	}
	if emb != nil {
		defer func() {
			if err := emb.Stop(); err != nil {
				fmt.Fprintf(stderr, "onus-loadgen: stopping the collector: %v\n", err)
			}
		}()
	}
	var profErr error
	if *s.cpuProfile != "" {
		opts.OnPhase = phaseProfiles(*s.cpuProfile, &profErr)
	}
	if *s.mutexProfile != "" {
		runtime.SetMutexProfileFraction(10)
	}
	fmt.Fprintf(stderr, "onus-loadgen: drawing %d hosts from a pool of %d titles (seed %d)\n", *s.hosts, *s.pool, *s.seed)
	g, err := loadgen.New(opts)
	if err != nil {
		return fail(stderr, "%v", err)
	}
	res, runErr := g.Run(ctx)
	if emb != nil {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		res.Embedded = emb.Figures(fctx)
		cancel()
	}
	profErr = errors.Join(profErr, s.endProfiles())
	return s.finish(res, runErr, profErr, stdout, stderr)
}

// fail prints a usage error and returns its exit status.
func fail(stderr io.Writer, format string, a ...any) int {
	fmt.Fprintf(stderr, "onus-loadgen: "+format+"\n", a...)
	return 2
}

// options turns the flags (set: those given) into the generator's options, and returns
// the embedded collector's logger.
func (s *settings) options(set map[string]bool, stderr io.Writer) (loadgen.Options, *slog.Logger, error) {
	log, err := logger(stderr, *s.logLevel)
	if err != nil {
		return loadgen.Options{}, nil, fmt.Errorf("--log-level: %w", err)
	}
	collLog, err := logger(stderr, *s.collLogLevel)
	if err != nil {
		return loadgen.Options{}, nil, fmt.Errorf("--collector-log-level: %w", err)
	}
	opts := loadgen.Options{URL: *s.url, InsecureHTTP: *s.insecure, CAFile: *s.caFile, Hosts: *s.hosts, Concurrency: *s.concurrency,
		MinPackages: *s.minPkgs, MaxPackages: *s.maxPkgs, Pool: *s.pool, UniqueFraction: *s.unique, Services: *s.services,
		Listeners: *s.listeners, Churn: *s.churn, Interval: *s.interval, SteadyDuration: *s.steady, Rounds: *s.rounds, Seed: *s.seed,
		Logger: log, CollectorPID: *s.collPID, CollectorIdle: *s.collIdle}
	if *s.interval == 0 {
		opts.Interval = -1 // as fast as the collector answers
	}
	if *s.unique == 0 {
		opts.UniqueFraction = -1
	}
	if !set["rounds"] && !set["steady-duration"] {
		opts.Rounds = 3
	}
	if *s.progress > 0 {
		opts.Progress, opts.ProgressInterval = stderr, *s.progress
	}
	if *s.hosts <= 0 || *s.concurrency <= 0 {
		return opts, nil, errors.New("--hosts and --concurrency must be 1 or more")
	}
	if *s.collPID < 0 || *s.collIdle < 0 {
		return opts, nil, errors.New("--collector-pid and --collector-idle must not be negative")
	}
	if *s.collPID > 0 {
		if err := loadgen.CheckProcess(*s.collPID); err != nil {
			return opts, nil, fmt.Errorf("--collector-pid: %w", err)
		}
	}
	return opts, collLog, nil
}

// collector starts the embedded collector (--embedded-collector), or reads the secrets of
// the external one, into opts. A non-zero code is the exit status of a failure.
func (s *settings) collector(ctx context.Context, opts *loadgen.Options, collLog *slog.Logger, stderr io.Writer) (*loadgen.Embedded, int) {
	if *s.embedded == "" {
		if *s.url == "" || *s.secretFile == "" {
			return nil, fail(stderr, "give --collector-url and --enroll-secret-file, or --embedded-collector DIR")
		}
		var err error
		if opts.EnrollSecret, err = readSecret(*s.secretFile); err != nil {
			return nil, fail(stderr, "--enroll-secret-file: %v", err)
		}
		if *s.adminFile != "" {
			if opts.AdminToken, err = readSecret(*s.adminFile); err != nil {
				return nil, fail(stderr, "--admin-token-file: %v", err)
			}
		}
		return nil, 0
	}
	if *s.url != "" || *s.secretFile != "" || *s.adminFile != "" {
		return nil, fail(stderr, "--embedded-collector starts its own collector: drop --collector-url, --enroll-secret-file and --admin-token-file")
	}
	if err := emptyDir(*s.embedded); err != nil {
		return nil, fail(stderr, "--embedded-collector: %v", err)
	}
	fmt.Fprintf(stderr, "onus-loadgen: starting a collector with embedded etcd in %s\n", *s.embedded)
	emb, err := loadgen.StartEmbedded(ctx, loadgen.EmbeddedOptions{Dir: *s.embedded, Logger: collLog.With("component", "collector"),
		StatusFlushInterval: *s.flushEvery, MaxConcurrentReports: *s.maxReports})
	if err != nil {
		fmt.Fprintf(stderr, "onus-loadgen: %v\n", err)
		return nil, 1
	}
	opts.URL, opts.InsecureHTTP, opts.EnrollSecret, opts.AdminToken, opts.Embedded = emb.URL, true, emb.EnrollSecret, emb.AdminToken, true
	return emb, 0
}

// phaseProfiles returns the OnPhase hook that writes a CPU profile of each phase to file
// with the phase's name inserted; errors are joined into errp.
func phaseProfiles(file string, errp *error) func(phase string, starting bool) {
	var f *os.File
	return func(phase string, starting bool) {
		if !starting {
			if f != nil {
				pprof.StopCPUProfile()
				*errp = errors.Join(*errp, f.Close())
				f = nil
			}
			return
		}
		var err error
		if f, err = os.Create(phaseFile(file, phase)); err != nil {
			*errp = errors.Join(*errp, err)
			return
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			*errp = errors.Join(*errp, err)
			f.Close()
			f = nil
		}
	}
}

// endProfiles writes the heap and mutex profiles asked for.
func (s *settings) endProfiles() error {
	var errs error
	if *s.memProfile != "" {
		runtime.GC()
		errs = errors.Join(errs, writeProfile("heap", *s.memProfile))
	}
	if *s.mutexProfile != "" {
		errs = errors.Join(errs, writeProfile("mutex", *s.mutexProfile))
	}
	return errs
}

// finish writes the results (text, and JSON with --json) and returns the exit status.
func (s *settings) finish(res *loadgen.Result, runErr, profErr error, stdout, stderr io.Writer) int {
	text, jsonOut := stdout, io.Writer(nil)
	if *s.jsonFile == "-" {
		text, jsonOut = stderr, stdout
	}
	res.WriteText(text)
	if *s.jsonFile != "" && *s.jsonFile != "-" {
		f, err := os.Create(*s.jsonFile)
		if err != nil {
			return fail(stderr, "--json: %v", err)
		}
		defer f.Close()
		jsonOut = f
	}
	if jsonOut != nil {
		if err := res.WriteJSON(jsonOut); err != nil {
			fmt.Fprintf(stderr, "onus-loadgen: writing JSON: %v\n", err)
			return 1
		}
	}
	if profErr != nil {
		fmt.Fprintf(stderr, "onus-loadgen: profiles: %v\n", profErr)
	}
	switch {
	case runErr != nil:
		fmt.Fprintf(stderr, "onus-loadgen: %v\n", runErr)
		return 1
	case res.Check != nil && !res.Check.OK():
		fmt.Fprintln(stderr, "onus-loadgen: the collector's answers differ from what was sent")
		return 1
	}
	return 0
}

func logger(w io.Writer, level string) (*slog.Logger, error) {
	l, err := cliconf.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// emptyDir checks that dir is absent or empty: a run measures a fresh store.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty (a run measures a fresh store)", dir)
	}
	return nil
}

// phaseFile inserts the phase's name before path's extension: cpu.pprof → cpu.steady.pprof.
func phaseFile(path, phase string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "." + phase + ext
}

func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
