// Package reporter is onus-agent's run loop: it enrolls with onus-collector, sends a full
// report and then deltas, heartbeats and install/remove events, and keeps what the collector
// has not accepted yet in the agent's state directory (see package spool), so that neither an
// agent restart nor a collector outage loses anything.
//
// When it collects:
//   - at start;
//   - a Debounce after a package database changed (fsnotify on the directories the inventory
//     sources name), once the package manager's locks (those the source names, see
//     source.Locker) are free, or LockWait after the first change at the latest, so that a
//     long dpkg run still reports within LockWait;
//   - every HeartbeatInterval, which also picks up services and listeners, which no file
//     watch sees;
//   - every FullInterval (with 10% jitter), followed by a full report as a safety net.
//
// A package database read that looks half-written — it skipped more malformed records than
// the previous read, or lost more than 5 packages and more than 10 % of a source's packages
// at once — is held back: the source keeps its previous packages until a second read, Settle
// later, agrees (then its changes become events) or disagrees (then it is discarded, counted
// and logged, and the later read is judged on its own). Events are differences between
// reads, so discarding one loses no real change: the next read carries it. A source whose
// read fails keeps what it produced in the previous read instead, and yields no events until
// it reads again. The reporter knows no source by name: which sources read package databases,
// of which format, and what a failed read keeps, each source says itself (source.PackageSource,
// source.Producer), so a new source needs no change here.
//
// What it sends: a full report first (and after need_full, a new credential or a refused
// report), a delta against the last accepted state when the state changed, a heartbeat
// otherwise. Every report carries the events noticed since the last accepted report.
//
// Observing the host never waits on the network. Two goroutines share the work:
//   - the collection loop (Run) owns the inventory, the watch and the timers; it collects,
//     derives the install/remove events against the previous collection and journals them;
//   - the sender owns the report in flight and the backoff; it builds a report from the
//     latest collection and the journal, sends it, and commits the collector's answer.
//
// The spool, the latest collection (its state, hash and capacity) and the two requests the
// collection loop makes of the sender (a full report, a report whatever the state) are
// guarded by one mutex. The collection loop takes it only to record what a collection found,
// never while collecting; the sender holds it while it builds, classifies and commits, and
// lets go of it while a request is on the network (in do), however long the collector takes
// to answer. A collection waits at most for the sender's local work (building a report,
// writing the spool), never for the collector: a package installed and removed while a
// report is in flight is journaled like any other change, and carried by the next report.
//
// Retries: a report that may have reached the collector (network error, timeout, 408, 429,
// 5xx; also 404 and 405, which point at the URL rather than the report) is resent as it is,
// same seq, same events, with capped exponential backoff and full jitter, honouring
// Retry-After; the collector acknowledges a resent report it had accepted as a duplicate, so
// a lost answer never delivers events twice. Collections go on meanwhile and journal their
// events; once the report is accepted the next one carries them. A report the collector
// refused for sure (need_full, 400, 401, 403, 413, 415...) is rebuilt from the current state
// as a full report with a new seq, carrying the same events; 401 and 403 enroll again first,
// presenting the refused credential as the proof an enrolled host ID needs (enroll.go: an
// enrollment the collector holds for an admin is asked about again with its token, honouring
// Retry-After, while collections go on); a refused full report backs off. Sequence numbers only grow, across restarts too (and jump
// above the collector's when its answer shows it accepted higher ones).
package reporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/inventory"
	"github.com/onus-project/onus/agent/spool"
	"github.com/onus-project/onus/internal/pki"
	"github.com/onus-project/onus/internal/protocol"
)

// Defaults of Options.
const (
	DefaultHeartbeatInterval = 60 * time.Second
	// DefaultFullInterval is long: the hashes already catch any disagreement between agent
	// and collector, and a fleet's full reports are its largest load on the collector
	// (100,000 hosts every 24 h is about one full report a second).
	DefaultFullInterval = 24 * time.Hour
	DefaultDebounce     = time.Second
	DefaultLockWait     = 30 * time.Second
	DefaultSettle       = 5 * time.Second
	DefaultBackoffMin   = time.Second
	// DefaultBackoffMax bounds the retry delay when the heartbeat interval is longer;
	// otherwise it is the heartbeat interval (see Options.BackoffMax).
	DefaultBackoffMax  = 5 * time.Minute
	DefaultHTTPTimeout = 60 * time.Second
)

// maxRetryAfter bounds how long a Retry-After answer can make the agent wait.
const maxRetryAfter = time.Hour

// ErrInsecureURL is returned by New for an http:// collector URL without InsecureHTTP.
var ErrInsecureURL = errors.New("collector URL is plain http:// (allow it explicitly with --insecure-http, for local use only)")

// Options configure a Reporter. CollectorURL, EnrollSecret, StateDir and Inventory are
// required; zero durations take their defaults.
type Options struct {
	// CollectorURL is the collector's base URL, e.g. https://onus.example.com:8443.
	CollectorURL string
	// CAFile is a PEM file of CA certificates trusted for the collector, besides the
	// system's.
	CAFile string
	// TLSCertFile and TLSKeyFile are the agent's client certificate, for a collector that
	// asks for one; they are read again when they change, so a renewed certificate needs no
	// restart.
	TLSCertFile, TLSKeyFile string
	// InsecureHTTP allows an http:// CollectorURL.
	InsecureHTTP bool
	// EnrollSecret is the fleet's enroll secret, exchanged for a per-host credential.
	EnrollSecret string
	// StateDir is the agent's state directory (see package spool).
	StateDir string
	// Inventory collects the host's inventory.
	Inventory *inventory.Inventory
	// HostRoot is the host root the inventory reads ("/" by default): watch paths that a
	// source names host-absolute are watched under it.
	HostRoot hostfs.Root
	// HeartbeatInterval is how often the agent collects everything and reports even when
	// nothing changed.
	HeartbeatInterval time.Duration
	// FullInterval is how often the agent sends a full report as a safety net.
	FullInterval time.Duration
	// Debounce is how long a package database must stay quiet after a change before it is
	// read.
	Debounce time.Duration
	// LockWait is the longest a change waits for the package manager to finish.
	LockWait time.Duration
	// Settle is how long a doubtful package database read (one that skipped malformed
	// records or lost many packages at once, as a half-written database does) waits for the
	// second read that confirms it before its changes become events.
	Settle time.Duration
	// JournalMax bounds the events kept while the collector does not accept them
	// (spool.DefaultJournalMax by default).
	JournalMax int
	// BackoffMin and BackoffMax bound the retry delays: the n-th consecutive failure waits
	// a delay drawn uniformly from zero to BackoffMin·2ⁿ⁻¹, at most BackoffMax (full
	// jitter), or longer when the collector answered Retry-After. BackoffMax defaults to the
	// heartbeat interval (at most DefaultBackoffMax): an agent reports within about a
	// heartbeat of the collector's return, long before it counts as stale, while a fleet
	// that failed together comes back spread evenly over that interval.
	BackoffMin, BackoffMax time.Duration
	// HTTPTimeout bounds one request to the collector.
	HTTPTimeout time.Duration
	// Logger receives the reporter's logs; nil discards.
	Logger *slog.Logger
	// Registerer receives the agent's reporting metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Now returns the current time (event detection and report times); time.Now when nil.
	Now func() time.Time
}

// Reporter runs the agent's reporting loop.
type Reporter struct {
	opts    Options
	base    *url.URL
	client  *http.Client
	log     *slog.Logger
	now     func() time.Time
	m       *metrics
	started atomic.Bool

	// mu guards the spool and what the collection loop and the sender share (see the
	// package documentation).
	mu        sync.Mutex
	spool     *spool.Spool
	prev      *protocol.State // the last collection (the journal leads to its software)
	curHash   string
	capacity  protocol.Capacity
	forceFull bool // the next report is a full one
	due       bool // a report is due even if the collector holds everything (start, heartbeat)

	// Owned by the collection loop.
	held map[string]*heldRead // package source → its doubtful read waiting for confirmation
	srcs sourceTraits         // what the inventory's sources say of themselves; read-only

	// Owned by the sender (and by restore, before it starts).
	infl    *inflight
	attempt int // consecutive failed attempts
	enr     enrollment
}

// New validates opts and returns a Reporter. It starts nothing and touches no file but the
// CA file and the client certificate.
func New(opts Options) (*Reporter, error) {
	if opts.Inventory == nil {
		return nil, errors.New("reporter: no inventory")
	}
	if opts.StateDir == "" {
		return nil, errors.New("reporter: no state directory")
	}
	if opts.EnrollSecret == "" {
		return nil, errors.New("reporter: no enroll secret")
	}
	if len(opts.EnrollSecret) > protocol.MaxCredentialLn {
		return nil, fmt.Errorf("reporter: enroll secret longer than %d bytes", protocol.MaxCredentialLn)
	}
	u, err := url.Parse(opts.CollectorURL)
	if err != nil {
		return nil, fmt.Errorf("reporter: collector URL: %w", err)
	}
	switch {
	case opts.CollectorURL == "":
		return nil, errors.New("reporter: no collector URL")
	case u.Scheme == "http" && !opts.InsecureHTTP:
		return nil, ErrInsecureURL
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("reporter: collector URL %q: want https://", opts.CollectorURL)
	case u.Host == "":
		return nil, fmt.Errorf("reporter: collector URL %q has no host", opts.CollectorURL)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("reporter: collector URL %q: no query or fragment, please", opts.CollectorURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if opts.HostRoot == "" {
		opts.HostRoot = "/"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&opts.HeartbeatInterval, DefaultHeartbeatInterval)
	def(&opts.FullInterval, DefaultFullInterval)
	def(&opts.Debounce, DefaultDebounce)
	def(&opts.LockWait, DefaultLockWait)
	def(&opts.Settle, DefaultSettle)
	def(&opts.BackoffMin, DefaultBackoffMin)
	def(&opts.BackoffMax, max(min(opts.HeartbeatInterval, DefaultBackoffMax), opts.BackoffMin))
	def(&opts.HTTPTimeout, DefaultHTTPTimeout)
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"heartbeat interval", opts.HeartbeatInterval}, {"full interval", opts.FullInterval},
		{"debounce", opts.Debounce}, {"lock wait", opts.LockWait}, {"settle", opts.Settle}, {"backoff minimum", opts.BackoffMin},
		{"backoff maximum", opts.BackoffMax}, {"HTTP timeout", opts.HTTPTimeout}} {
		if d.v < 0 {
			return nil, fmt.Errorf("reporter: negative %s", d.name)
		}
	}
	if opts.BackoffMax < opts.BackoffMin {
		return nil, errors.New("reporter: backoff maximum below its minimum")
	}
	if opts.JournalMax < 0 || opts.JournalMax > protocol.MaxEvents {
		return nil, fmt.Errorf("reporter: journal bound out of range 0..%d", protocol.MaxEvents)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr, err := pki.ClientTransport(opts.CAFile, opts.TLSCertFile, opts.TLSKeyFile, log.With("component", "tls"))
	if err != nil {
		return nil, fmt.Errorf("reporter: %w", err)
	}
	r := &Reporter{
		opts:   opts,
		base:   u,
		client: &http.Client{Transport: tr, Timeout: opts.HTTPTimeout},
		log:    log,
		now:    opts.Now,
		held:   map[string]*heldRead{},
		srcs:   newSourceTraits(opts.Inventory.Traits()),
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.m, err = newMetrics(opts.Registerer, r.srcs.packageSources()); err != nil {
		return nil, err
	}
	return r, nil
}

// Run collects and reports until ctx ends, then returns nil. It returns an error only when
// it cannot start (the state directory cannot be created). It may be called once.
func (r *Reporter) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("reporter: Run called twice")
	}
	sp, err := spool.Open(spool.Options{Dir: r.opts.StateDir, JournalMax: r.opts.JournalMax, Logger: r.log})
	if err != nil {
		return err
	}
	r.spool = sp
	r.restore()
	defer r.client.CloseIdleConnections()

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	changed := make(chan struct{}, 1)
	w, err := newWatcher(r.opts.Inventory.WatchPaths(), r.srcs.locks(), r.opts.HostRoot, r.opts.Debounce, r.opts.LockWait, r.log)
	if err != nil {
		r.log.Warn("cannot watch the package databases; changes are seen at the next heartbeat", "err", err)
	} else {
		defer w.close()
		w.refresh()
		wg.Go(func() { w.run(ctx, changed) })
	}

	// wake tells the sender that a collection recorded something; sent tells the collection
	// loop that the collector holds everything, so the next heartbeat can wait a whole
	// interval. One pending signal is enough for either.
	wake, sent := make(chan struct{}, 1), make(chan struct{}, 1)
	signal := func(c chan struct{}) {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	if r.pass(ctx, "startup") == nil {
		r.request(func() { r.due = true })
		signal(wake)
	}
	wg.Go(func() { r.sender(ctx, wake, func() { signal(sent) }) })

	heartbeat := time.NewTimer(jitter(r.opts.HeartbeatInterval, 0.1))
	defer heartbeat.Stop()
	full := time.NewTimer(jitter(r.opts.FullInterval, 0.1))
	defer full.Stop()
	// confirm fires when a doubtful package read held back may be confirmed by a second.
	confirm := time.NewTimer(time.Hour)
	confirm.Stop()
	defer confirm.Stop()
	for {
		if d, ok := r.nextConfirm(); ok {
			confirm.Reset(d)
		} else {
			confirm.Stop()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
			if r.pass(ctx, "watch") == nil {
				signal(wake)
			}
		case <-confirm.C:
			if r.pass(ctx, "confirm") == nil {
				signal(wake)
			}
		case <-heartbeat.C:
			if w != nil {
				w.refresh()
			}
			if r.pass(ctx, "heartbeat") == nil {
				r.request(func() { r.due = true })
				signal(wake)
			}
			heartbeat.Reset(jitter(r.opts.HeartbeatInterval, 0.1))
		case <-full.C:
			if r.pass(ctx, "full") == nil {
				r.request(func() { r.forceFull = true })
				signal(wake)
			}
			full.Reset(jitter(r.opts.FullInterval, 0.1))
		case <-sent:
			heartbeat.Reset(jitter(r.opts.HeartbeatInterval, 0.1))
		}
	}
}

// request records under mu what the collection loop asks of the sender.
func (r *Reporter) request(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
}

// sender delivers reports whenever the collection loop signals wake, until ctx ends: each
// time one is due or the collector lacks something, it sends until the collector holds
// everything, waiting out the backoff between failed attempts (signals meanwhile wait for
// the retry, which carries what they recorded). It calls done after each delivery.
func (r *Reporter) sender(ctx context.Context, wake <-chan struct{}, done func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
		for {
			r.mu.Lock()
			var d time.Duration
			if r.due || r.dirty() {
				d = r.send(ctx)
				if d == 0 && ctx.Err() == nil {
					done()
				}
			}
			r.mu.Unlock()
			if d == 0 {
				break
			}
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// restore takes up where the previous run stopped: the last accepted state, the report that
// was in flight, the software the journal leads to.
func (r *Reporter) restore() {
	acc := r.spool.Accepted()
	if acc != nil {
		st := acc.State
		r.prev = &st
	}
	if p := r.spool.Pending(); p != nil {
		in := &inflight{report: p.Report, upto: p.Upto, persisted: true}
		target, err := targetOf(acc, &p.Report)
		if err == nil {
			in.body, err = protocol.Marshal(&p.Report)
		}
		if err != nil {
			r.log.Warn("the report in flight at the last stop cannot be resent; its events go into a full report", "seq", p.Report.Seq, "err", err)
			in.refused = true
		} else {
			in.target = target
			r.prev = &target
		}
		r.infl = in
	}
	if b := r.spool.Base(); b != nil {
		var st protocol.State
		if r.prev != nil {
			st = *r.prev
		}
		st.Software, st.Sources = b.Software, b.Sources
		r.prev = &st
	}
	r.m.journal.Set(float64(r.spool.Waiting()))
	if acc != nil {
		r.m.lastAccepted.Set(float64(acc.AcceptedAt.Unix()))
	}
}

// targetOf returns the state the collector holds once it accepts rep.
func targetOf(acc *spool.Accepted, rep *protocol.Report) (protocol.State, error) {
	var st protocol.State
	switch {
	case rep.Kind == protocol.KindFull:
		st = *rep.State
		protocol.Normalize(&st)
	case acc == nil || acc.Hash != rep.BaseHash:
		return st, errors.New("its base state is not the last accepted one")
	case rep.Kind == protocol.KindDelta:
		st = protocol.Apply(&acc.State, rep.Delta)
	default:
		st = acc.State
	}
	if protocol.Hash(&st) != rep.Hash {
		return st, errors.New("its state does not match its hash")
	}
	return st, nil
}

// dirty says whether the collector lacks something the agent has. The caller holds mu.
func (r *Reporter) dirty() bool {
	acc := r.spool.Accepted()
	return acc == nil || acc.Hash != r.curHash || r.infl != nil || r.spool.Waiting() > 0 || r.forceFull
}

// jitter spreads d over d±f, so that a fleet started together does not report together.
func jitter(d time.Duration, f float64) time.Duration {
	return time.Duration(float64(d) * (1 - f + 2*f*rand.Float64()))
}
