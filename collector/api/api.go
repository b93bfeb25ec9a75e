// Package api is the collector's HTTP interface: the agents' enroll and report endpoints, the
// admin API over the fleet's inventory (documented in openapi.yaml), health, readiness and
// metrics.
package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/onus-project/onus/collector/index"
	"github.com/onus-project/onus/collector/ingest"
	"github.com/onus-project/onus/collector/ownership"
	"github.com/onus-project/onus/internal/protocol"
)

// Options configure the API.
type Options struct {
	Ingest *ingest.Ingest
	Index  *index.Index
	// Ownership writes the ownership registry.
	Ownership *ownership.Service
	// Written returns the revision of this replica's newest write (nil: none): reads wait
	// until the index reflects it (up to a second), so that a client sees its own writes.
	Written func() int64
	// AdminToken authorizes the admin API; empty refuses every admin request.
	AdminToken string
	// ReadToken, when set, authorizes the admin API's reads (GET) only.
	ReadToken string
	// Limits bound report bodies (protocol.DefaultLimits when zero).
	Limits protocol.Limits
	// MaxConcurrentReports bounds the reports decoded at once (default 16); more wait up to
	// a second, then get 429 with Retry-After.
	MaxConcurrentReports int
	// MaxReportMemory bounds the memory all reports in flight hold at once
	// (DefaultMaxReportMemory when 0); it must hold at least one report of the largest size
	// Limits allow. Over it, reports get 429 with Retry-After.
	MaxReportMemory int64
	// BodyReadGrace and BodyMinRate bound how slowly a report's body may arrive: after the
	// grace, at least BodyMinRate bytes a second on average, else 408
	// (DefaultBodyReadGrace, DefaultBodyMinRate when 0).
	BodyReadGrace time.Duration
	BodyMinRate   int64
	// Registerer receives the request path's metrics (none registered when nil).
	Registerer prometheus.Registerer
	// MetricsAuth says who may read /metrics: MetricsAuthNone (anyone who reaches the
	// listener, the default) or MetricsAuthReadToken (the read-only token or the admin
	// token, as a bearer token).
	MetricsAuth string
	// Gatherer serves /metrics (prometheus.DefaultGatherer when nil).
	Gatherer prometheus.Gatherer
	// Maintenance takes the store's snapshots for backups (GET /api/v1/admin/snapshot,
	// admin token only); nil answers 501 there.
	Maintenance clientv3.Maintenance
	// Writable says whether the store can take writes now (nil: it is assumed it can). While
	// it fails, /readyz fails and enrollments and reports are answered its error at once.
	Writable func() error
	Logger   *slog.Logger
	Now      func() time.Time
}

// API serves HTTP.
type API struct {
	opts      Options
	log       *slog.Logger
	sem       chan struct{}
	mux       *http.ServeMux
	now       func() time.Time
	memory    *budget
	busyHosts hostSet
	metrics   *apiMetrics
	// storeLog keeps the warnings of an outage of the store to a few lines a minute.
	storeLog throttle
}

// New returns the API handler.
func New(opts Options) (*API, error) {
	if opts.Ingest == nil || opts.Index == nil || opts.Ownership == nil {
		return nil, errors.New("api: ingest, index and ownership are required")
	}
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	m, err := newAPIMetrics(opts.Registerer, opts.MaxReportMemory)
	if err != nil {
		return nil, err
	}
	a := &API{opts: opts, log: opts.Logger, sem: make(chan struct{}, opts.MaxConcurrentReports), mux: http.NewServeMux(), now: opts.Now,
		memory: &budget{limit: opts.MaxReportMemory, gauge: m.inFlight}, busyHosts: hostSet{m: map[string]struct{}{}}, metrics: m}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.routes()
	return a, nil
}

// Routes lists the API's routes, for documentation checks.
func Routes() []string {
	return []string{"POST " + protocol.PathEnroll, "POST " + protocol.PathReport, "GET /api/v1/hosts", "GET /api/v1/hosts/{id}",
		"DELETE /api/v1/hosts/{id}", "GET /api/v1/enrollments", "POST /api/v1/enrollments/{id}/approve",
		"POST /api/v1/enrollments/{id}/deny", "GET /api/v1/software", "GET /api/v1/services",
		"GET /api/v1/owners", "PUT /api/v1/owners/{id}", "DELETE /api/v1/owners/{id}",
		"GET /api/v1/rules", "PUT /api/v1/rules/{id}", "DELETE /api/v1/rules/{id}",
		"GET /api/v1/assignments", "PUT /api/v1/assignments", "DELETE /api/v1/assignments",
		"POST /api/v1/ownership/apply", "GET /api/v1/coverage", "GET /api/v1/why",
		"GET /api/v1/export", "GET " + PathSnapshot, "GET /healthz", "GET /readyz", "GET /metrics"}
}

// ServeHTTP serves every answer with "X-Content-Type-Options: nosniff": the API answers
// JSON, CSV and text holding whatever hosts report, and a browser must never guess one of
// them to be HTML or script.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	a.mux.ServeHTTP(w, r)
}

func (a *API) isReady() bool {
	select {
	case <-a.opts.Index.Ready():
		return true
	default:
		return false
	}
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if !a.isReady() {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "index not synced with the store yet", http.StatusServiceUnavailable)
		return
	}
	if err := a.storeWritable(); err != nil {
		writeError(w, err)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (a *API) storeWritable() error {
	if a.opts.Writable == nil {
		return nil
	}
	return a.opts.Writable()
}

// writable answers the store's error at once while it cannot take writes: a request that
// would wait for its deadline holds a connection and a goroutine for nothing.
func (a *API) writable(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := a.storeWritable(); err != nil {
			a.logRefusal(r, err)
			writeError(w, err)
			return
		}
		h(w, r)
	}
}

// ready answers 503 until the index has listed the store.
func (a *API) ready(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.isReady() {
			w.Header().Set("Retry-After", "5")
			writeError(w, protocol.Errorf(http.StatusServiceUnavailable, "collector starting: index not synced yet"))
			return
		}
		h(w, r)
	}
}

// defaults fills the options left unset and checks the rest.
func (opts *Options) defaults() error {
	if opts.Limits == (protocol.Limits{}) {
		opts.Limits = protocol.DefaultLimits
	}
	if opts.MaxConcurrentReports <= 0 {
		opts.MaxConcurrentReports = 16
	}
	if opts.Gatherer == nil {
		opts.Gatherer = prometheus.DefaultGatherer
	}
	switch opts.MetricsAuth {
	case "":
		opts.MetricsAuth = MetricsAuthNone
	case MetricsAuthNone:
	case MetricsAuthReadToken:
		if opts.ReadToken == "" {
			return errors.New("api: metrics auth read-token needs a read-only token (--read-token-file)")
		}
	default:
		return fmt.Errorf("api: metrics auth %q: want %s or %s", opts.MetricsAuth, MetricsAuthNone, MetricsAuthReadToken)
	}
	if opts.MaxReportMemory <= 0 {
		opts.MaxReportMemory = DefaultMaxReportMemory
	}
	lim := &opts.Limits
	if lim.Compressed <= 0 {
		lim.Compressed = protocol.DefaultMaxCompressedBytes
	}
	if lim.Decompressed <= 0 {
		lim.Decompressed = protocol.DefaultMaxDecompressedBytes
	}
	if one := lim.Compressed + decodeWeight*lim.Decompressed; opts.MaxReportMemory < one {
		return fmt.Errorf("api: a report memory budget of %d bytes cannot hold one report of the largest size (%d bytes compressed, %d decompressed, weighing %d)",
			opts.MaxReportMemory, lim.Compressed, lim.Decompressed, one)
	}
	if opts.BodyReadGrace <= 0 {
		opts.BodyReadGrace = DefaultBodyReadGrace
	}
	if opts.BodyMinRate <= 0 {
		opts.BodyMinRate = DefaultBodyMinRate
	}
	return nil
}

// routes registers every endpoint (keep Routes in step).
func (a *API) routes() {
	a.mux.HandleFunc("POST "+protocol.PathEnroll, a.ready(a.writable(a.enroll)))
	a.mux.HandleFunc("POST "+protocol.PathReport, a.ready(a.writable(a.report)))
	a.mux.HandleFunc("GET /api/v1/hosts", a.admin(a.hosts))
	a.mux.HandleFunc("GET /api/v1/hosts/{id}", a.admin(a.host))
	a.mux.HandleFunc("DELETE /api/v1/hosts/{id}", a.write(a.deleteHost))
	a.mux.HandleFunc("GET /api/v1/enrollments", a.admin(a.enrollments))
	a.mux.HandleFunc("POST /api/v1/enrollments/{id}/approve", a.write(a.decide(true)))
	a.mux.HandleFunc("POST /api/v1/enrollments/{id}/deny", a.write(a.decide(false)))
	a.mux.HandleFunc("GET /api/v1/software", a.admin(a.software))
	a.mux.HandleFunc("GET /api/v1/services", a.admin(a.services))
	a.mux.HandleFunc("GET /api/v1/owners", a.admin(a.getOwners))
	a.mux.HandleFunc("PUT /api/v1/owners/{id}", a.write(a.putOwner))
	a.mux.HandleFunc("DELETE /api/v1/owners/{id}", a.write(a.deleteOwner))
	a.mux.HandleFunc("GET /api/v1/rules", a.admin(a.getRules))
	a.mux.HandleFunc("PUT /api/v1/rules/{id}", a.write(a.putRule))
	a.mux.HandleFunc("DELETE /api/v1/rules/{id}", a.write(a.deleteRule))
	a.mux.HandleFunc("GET /api/v1/assignments", a.admin(a.getAssignments))
	a.mux.HandleFunc("PUT /api/v1/assignments", a.write(a.putAssignment))
	a.mux.HandleFunc("DELETE /api/v1/assignments", a.write(a.deleteAssignment))
	a.mux.HandleFunc("POST /api/v1/ownership/apply", a.write(a.applyOwners))
	a.mux.HandleFunc("GET /api/v1/coverage", a.admin(a.coverage))
	a.mux.HandleFunc("GET /api/v1/why", a.admin(a.why))
	a.mux.HandleFunc("GET /api/v1/export", a.admin(a.export))
	// A snapshot holds every credential hash: the admin token only, not the read-only one.
	a.mux.HandleFunc("GET "+PathSnapshot, a.write(a.snapshot))
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	a.mux.HandleFunc("GET /readyz", a.readyz)
	a.mux.Handle("GET /metrics", a.metricsAuth(promhttp.HandlerFor(a.opts.Gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)})))
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, protocol.Errorf(http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
}
