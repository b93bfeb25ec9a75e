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

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("onus-loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		url          = fs.String("collector-url", "", "base URL of the collector (https://HOST:PORT)")
		secretFile   = fs.String("enroll-secret-file", "", "file holding the fleet's enroll secret")
		adminFile    = fs.String("admin-token-file", "", "file holding the admin token: compare the collector's hosts and titles with what was sent (optional)")
		insecure     = fs.Bool("insecure-http", false, "allow a plain http:// collector URL (local use only)")
		caFile       = fs.String("ca-file", "", "CA certificates (PEM) trusted for the collector, besides the system's")
		collPID      = fs.Int("collector-pid", 0, "process ID of the collector on this machine (Linux): read its own CPU and memory from /proc in each phase")
		collIdle     = fs.Duration("collector-idle", 10*time.Second, "with --collector-pid, measure the collector's CPU for this long with nothing sent, after the full reports (0: not)")
		embedded     = fs.String("embedded-collector", "", "start a collector with embedded etcd in this process, with its data in `DIR` (empty or absent)")
		hosts        = fs.Int("hosts", 1000, "simulated hosts")
		concurrency  = fs.Int("concurrency", loadgen.DefaultConcurrency, "requests in flight at most (one connection each)")
		minPkgs      = fs.Int("min-packages", loadgen.DefaultMinPackages, "fewest packages of a host")
		maxPkgs      = fs.Int("max-packages", loadgen.DefaultMaxPackages, "most packages of a host (log-uniform between)")
		pool         = fs.Int("pool", loadgen.DefaultPool, "titles in the fleet's shared package pool")
		unique       = fs.Float64("unique-fraction", loadgen.DefaultUniqueFraction, "share of a host's packages no other host has (0: none)")
		services     = fs.Int("services", loadgen.DefaultServices, "systemd units of each host")
		listeners    = fs.Int("listeners", loadgen.DefaultListeners, "listening sockets of each host")
		churn        = fs.Float64("churn", 0.02, "probability that a host installs, removes or upgrades packages in a round")
		interval     = fs.Duration("interval", loadgen.DefaultInterval, "time between two steady-state reports of a host (0: as fast as the collector answers)")
		steady       = fs.Duration("steady-duration", 0, "length of the steady state")
		rounds       = fs.Int("rounds", 0, "steady-state rounds, one report per host each (default 3 without --steady-duration)")
		seed         = fs.Uint64("seed", 1, "seed of the simulated fleet (the same seed draws the same fleet)")
		jsonFile     = fs.String("json", "", "also write the results as JSON to `FILE` (\"-\": JSON on stdout, the text on stderr)")
		progress     = fs.Duration("progress", 10*time.Second, "interval of the progress lines on stderr (0: none)")
		cpuProfile   = fs.String("cpuprofile", "", "write a CPU profile of each phase to `FILE` with the phase's name inserted (FILE.enroll, ...); with --embedded-collector it shows the collector's work")
		memProfile   = fs.String("memprofile", "", "write a heap profile at the end of the run to `FILE`")
		mutexProfile = fs.String("mutexprofile", "", "write a profile of lock contention over the whole run to `FILE` (with --embedded-collector, the collector's locks; sampling contended locks slows a busy collector down, so keep its figures apart)")
		logLevel     = fs.String("log-level", "warn", "log level of the generator: debug, info, warn, error")
		collLogLevel = fs.String("collector-log-level", "warn", "log level of the embedded collector and its etcd")
		maxReports   = fs.Int("collector-max-concurrent-reports", 0, "the embedded collector's bound on reports decoded at once (0: its default)")
		flushEvery   = fs.Duration("collector-status-flush-interval", 0, "the embedded collector's status flush interval (0: its default)")
		showVersion  = fs.Bool("version", false, "print the version and exit")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "onus-loadgen", version.String())
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "onus-loadgen: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "onus-loadgen: "+format+"\n", a...)
		return 2
	}
	log, err := logger(stderr, *logLevel)
	if err != nil {
		return fail("--log-level: %v", err)
	}
	collLog, err := logger(stderr, *collLogLevel)
	if err != nil {
		return fail("--collector-log-level: %v", err)
	}

	opts := loadgen.Options{URL: *url, InsecureHTTP: *insecure, CAFile: *caFile, Hosts: *hosts, Concurrency: *concurrency,
		MinPackages: *minPkgs, MaxPackages: *maxPkgs, Pool: *pool, UniqueFraction: *unique, Services: *services,
		Listeners: *listeners, Churn: *churn, Interval: *interval, SteadyDuration: *steady, Rounds: *rounds, Seed: *seed,
		Logger: log, CollectorPID: *collPID, CollectorIdle: *collIdle}
	if *interval == 0 {
		opts.Interval = -1 // as fast as the collector answers
	}
	if *unique == 0 {
		opts.UniqueFraction = -1
	}
	if !set["rounds"] && !set["steady-duration"] {
		opts.Rounds = 3
	}
	if *progress > 0 {
		opts.Progress, opts.ProgressInterval = stderr, *progress
	}
	if *hosts <= 0 || *concurrency <= 0 {
		return fail("--hosts and --concurrency must be 1 or more")
	}
	if *collPID < 0 || *collIdle < 0 {
		return fail("--collector-pid and --collector-idle must not be negative")
	}
	if *collPID > 0 {
		if err := loadgen.CheckProcess(*collPID); err != nil {
			return fail("--collector-pid: %v", err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var emb *loadgen.Embedded
	if *embedded != "" {
		if *url != "" || *secretFile != "" || *adminFile != "" {
			return fail("--embedded-collector starts its own collector: drop --collector-url, --enroll-secret-file and --admin-token-file")
		}
		if err := emptyDir(*embedded); err != nil {
			return fail("--embedded-collector: %v", err)
		}
		fmt.Fprintf(stderr, "onus-loadgen: starting a collector with embedded etcd in %s\n", *embedded)
		emb, err = loadgen.StartEmbedded(ctx, loadgen.EmbeddedOptions{Dir: *embedded, Logger: collLog.With("component", "collector"),
			StatusFlushInterval: *flushEvery, MaxConcurrentReports: *maxReports})
		if err != nil {
			fmt.Fprintf(stderr, "onus-loadgen: %v\n", err)
			return 1
		}
		defer func() {
			if err := emb.Stop(); err != nil {
				fmt.Fprintf(stderr, "onus-loadgen: stopping the collector: %v\n", err)
			}
		}()
		opts.URL, opts.InsecureHTTP, opts.EnrollSecret, opts.AdminToken, opts.Embedded = emb.URL, true, emb.EnrollSecret, emb.AdminToken, true
	} else {
		if *url == "" || *secretFile == "" {
			return fail("give --collector-url and --enroll-secret-file, or --embedded-collector DIR")
		}
		if opts.EnrollSecret, err = readSecret(*secretFile); err != nil {
			return fail("--enroll-secret-file: %v", err)
		}
		if *adminFile != "" {
			if opts.AdminToken, err = readSecret(*adminFile); err != nil {
				return fail("--admin-token-file: %v", err)
			}
		}
	}
	var profErr error
	if *cpuProfile != "" {
		var f *os.File
		opts.OnPhase = func(phase string, starting bool) {
			if !starting {
				if f != nil {
					pprof.StopCPUProfile()
					profErr = errors.Join(profErr, f.Close())
					f = nil
				}
				return
			}
			var err error
			if f, err = os.Create(phaseFile(*cpuProfile, phase)); err != nil {
				profErr = errors.Join(profErr, err)
				return
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				profErr = errors.Join(profErr, err)
				f.Close()
				f = nil
			}
		}
	}

	if *mutexProfile != "" {
		runtime.SetMutexProfileFraction(10)
	}
	fmt.Fprintf(stderr, "onus-loadgen: drawing %d hosts from a pool of %d titles (seed %d)\n", *hosts, *pool, *seed)
	g, err := loadgen.New(opts)
	if err != nil {
		return fail("%v", err)
	}
	res, runErr := g.Run(ctx)
	if emb != nil {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		res.Embedded = emb.Figures(fctx)
		cancel()
	}
	if *memProfile != "" {
		runtime.GC()
		if err := writeProfile("heap", *memProfile); err != nil {
			profErr = errors.Join(profErr, err)
		}
	}
	if *mutexProfile != "" {
		if err := writeProfile("mutex", *mutexProfile); err != nil {
			profErr = errors.Join(profErr, err)
		}
	}

	text, jsonOut := stdout, io.Writer(nil)
	if *jsonFile == "-" {
		text, jsonOut = stderr, stdout
	}
	res.WriteText(text)
	if *jsonFile != "" && *jsonFile != "-" {
		f, err := os.Create(*jsonFile)
		if err != nil {
			return fail("--json: %v", err)
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
