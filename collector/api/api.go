// Package api is the collector's HTTP interface: the agents' enroll and report endpoints, the
// admin API over the fleet's inventory (documented in openapi.yaml), health, readiness and
// metrics.
package api

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/onus-project/onus/collector/index"
	"github.com/onus-project/onus/collector/ingest"
	"github.com/onus-project/onus/collector/ownership"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
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
			return nil, errors.New("api: metrics auth read-token needs a read-only token (--read-token-file)")
		}
	default:
		return nil, fmt.Errorf("api: metrics auth %q: want %s or %s", opts.MetricsAuth, MetricsAuthNone, MetricsAuthReadToken)
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
		return nil, fmt.Errorf("api: a report memory budget of %d bytes cannot hold one report of the largest size (%d bytes compressed, %d decompressed, weighing %d)",
			opts.MaxReportMemory, lim.Compressed, lim.Decompressed, one)
	}
	if opts.BodyReadGrace <= 0 {
		opts.BodyReadGrace = DefaultBodyReadGrace
	}
	if opts.BodyMinRate <= 0 {
		opts.BodyMinRate = DefaultBodyMinRate
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
	a.mux.Handle("GET /metrics", a.metricsAuth(promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)})))
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, protocol.Errorf(http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
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

// admin lets the admin token and the read-only token through: for reads.
func (a *API) admin(h http.HandlerFunc) http.HandlerFunc { return a.scoped(h, false) }

// write lets only the admin token through.
func (a *API) write(h http.HandlerFunc) http.HandlerFunc { return a.scoped(h, true) }

func (a *API) scoped(h http.HandlerFunc, write bool) http.HandlerFunc {
	return a.ready(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		is := func(want string) bool {
			return ok && want != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(want)) == 1
		}
		switch {
		case is(a.opts.AdminToken):
		case is(a.opts.ReadToken):
			if write {
				writeError(w, protocol.Errorf(http.StatusForbidden, "the read-only token cannot change anything or take snapshots: use the admin token"))
				return
			}
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="onus-admin"`)
			writeError(w, protocol.Errorf(http.StatusUnauthorized, "admin token required (Authorization: Bearer <token>)"))
			return
		}
		if r.Method == http.MethodGet {
			a.catchUp(r.Context())
		}
		h(w, r)
	})
}

// catchUpWait bounds how long a read waits for the index to reflect this replica's writes.
const catchUpWait = time.Second

// catchUp waits until the index reflects this replica's newest write (read-your-writes for
// a client of one replica: the host it deleted is gone, the rule it wrote resolves), at most
// catchUpWait; past that, the read is served from the index as it is.
func (a *API) catchUp(ctx context.Context) {
	if a.opts.Written == nil {
		return
	}
	rev := a.opts.Written()
	if rev == 0 || a.opts.Index.Revision() >= rev {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, catchUpWait)
	defer cancel()
	if err := a.opts.Index.WaitRevision(wctx, rev); err != nil && ctx.Err() == nil {
		a.log.Debug("index behind this replica's writes; serving what it holds", "revision", rev, "err", err)
	}
}

// Who may read /metrics.
const (
	MetricsAuthNone      = "none"
	MetricsAuthReadToken = "read-token"
)

// metricsAuth asks for the read-only or the admin token on /metrics when MetricsAuth says
// so. Unlike the admin API it answers before the index is synced: a collector that is
// starting is scraped too, or up{} could not tell it from one that is down.
func (a *API) metricsAuth(h http.Handler) http.Handler {
	if a.opts.MetricsAuth != MetricsAuthReadToken {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		is := func(want string) bool {
			return ok && want != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(want)) == 1
		}
		if !is(a.opts.ReadToken) && !is(a.opts.AdminToken) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="onus-metrics"`)
			writeError(w, protocol.Errorf(http.StatusUnauthorized, "metrics need the read-only token (Authorization: Bearer <token>): the collector runs with --metrics-auth read-token"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

func (a *API) enroll(w http.ResponseWriter, r *http.Request) {
	var req protocol.EnrollRequest
	body := http.MaxBytesReader(w, r.Body, protocol.MaxEnrollBytes)
	if err := protocol.Decode(body, r.Header.Get("Content-Encoding"), protocol.Limits{Compressed: protocol.MaxEnrollBytes, Decompressed: protocol.MaxEnrollBytes}, &req); err != nil {
		writeError(w, err)
		return
	}
	from := ingest.Peer{Addr: r.RemoteAddr}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		// Only a certificate the client CA signed names the host (see --tls-client-auth).
		leaf := r.TLS.VerifiedChains[0][0]
		from.CertNames = append([]string{leaf.Subject.CommonName}, leaf.DNSNames...)
	}
	resp, err := a.opts.Ingest.Enroll(r.Context(), &req, from)
	if err != nil {
		if d := ingest.RetryAfter(err); d > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(d.Round(time.Second)/time.Second)))
		}
		a.logRefusal(r, err)
		writeError(w, err)
		return
	}
	if resp.Status == protocol.EnrollPending {
		w.Header().Set("Retry-After", strconv.Itoa(int(a.opts.Ingest.PendingRetryAfter().Round(time.Second)/time.Second)))
		writeJSON(w, http.StatusAccepted, resp)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *API) report(w http.ResponseWriter, r *http.Request) {
	cred, ok := bearer(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="onus-agent"`)
		writeError(w, protocol.Errorf(http.StatusUnauthorized, "agent credential required (Authorization: Bearer <credential>): enroll first"))
		return
	}
	agent, err := a.opts.Ingest.Authenticate(r.Context(), cred)
	if err != nil {
		a.logRefusal(r, err)
		writeError(w, err)
		return
	}
	// One report in flight per host: a credential holds one body, however many
	// connections it opens.
	if !a.busyHosts.add(agent.HostID) {
		a.shed(w, r, "host", http.StatusTooManyRequests, "a report of host %s is already in flight: retry once it is answered", agent.HostID)
		return
	}
	defer a.busyHosts.remove(agent.HostID)
	acct := &account{b: a.memory}
	defer acct.release()
	// The whole compressed body first, under a deadline that moves with the bytes that
	// arrive: a slow client holds no decode slot, and not for long.
	body, err := readBody(w, r, a.opts.Limits.Compressed, a.opts.BodyReadGrace, a.opts.BodyMinRate, acct)
	var slow errSlow
	switch {
	case errors.Is(err, errOverBudget):
		a.shed(w, r, "memory", http.StatusTooManyRequests, "collector busy: the reports in flight hold the memory they may (%d bytes): retry later", a.opts.MaxReportMemory)
		return
	case errors.As(err, &slow):
		a.shed(w, r, "slow", http.StatusRequestTimeout, "%s", slow.msg)
		return
	case err != nil:
		a.logRefusal(r, err, "host_id", agent.HostID)
		if pe := (*protocol.Error)(nil); errors.As(err, &pe) && pe.Status == http.StatusRequestEntityTooLarge {
			// Too large is the host's report refused; a broken connection is not.
			a.opts.Ingest.Refused(agent, nil, err)
		}
		writeError(w, err)
		return
	}
	// Bound the reports decoded at once: a report can take tens of MiB while decoded.
	select {
	case a.sem <- struct{}{}:
	case <-time.After(time.Second):
		a.shed(w, r, "busy", http.StatusTooManyRequests, "collector busy: retry later")
		return
	case <-r.Context().Done():
		return
	}
	defer func() { <-a.sem }()
	var rep protocol.Report
	err = protocol.DecodeCharged(bytes.NewReader(body), r.Header.Get("Content-Encoding"), a.opts.Limits,
		func(n int64) error { return acct.charge(decodeWeight * n) }, &rep)
	if errors.Is(err, errOverBudget) {
		a.shed(w, r, "memory", http.StatusTooManyRequests, "collector busy: the reports in flight hold the memory they may (%d bytes): retry later", a.opts.MaxReportMemory)
		return
	}
	if err != nil {
		a.logRefusal(r, err, "host_id", agent.HostID)
		a.opts.Ingest.Refused(agent, &rep, err)
		writeError(w, err)
		return
	}
	resp, err := a.opts.Ingest.Report(r.Context(), agent, &rep)
	if err != nil {
		a.logRefusal(r, err, "host_id", agent.HostID)
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *API) logRefusal(r *http.Request, err error, args ...any) {
	var pe *protocol.Error
	status := http.StatusInternalServerError
	if errors.As(err, &pe) {
		status = pe.Status
	}
	args = append(args, "path", r.URL.Path, "remote", r.RemoteAddr, "status", status, "err", err)
	var se *ingest.StoreError
	if errors.As(err, &se) {
		// One line per reason and interval during an outage, with the count of the others.
		if n, ok := a.storeLog.allow(se.Reason, a.now()); ok {
			a.log.Warn("request failed: store", append(args, "reason", se.Reason, "suppressed", n)...)
		}
		return
	}
	if status >= 500 {
		a.log.Warn("request failed", args...)
	} else {
		a.log.Info("request refused", args...)
	}
}

func writeError(w http.ResponseWriter, err error) {
	if se := ingest.StoreFailure("", err); se != nil && se.Reason != ingest.ReasonOther {
		// Straight from the store (the registry's writes), or already answered by ingest.
		if !errors.As(err, &se) {
			err = se
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(se.RetryAfter/time.Second)))
	}
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			pe = protocol.Errorf(http.StatusServiceUnavailable, "request cancelled: %v", err)
		} else {
			pe = protocol.Errorf(http.StatusInternalServerError, "internal error: %v", err)
		}
	}
	if pe.Status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, pe.Status, protocol.ErrorResponse{Error: pe.Msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// page reads limit and continue parameters.
func page(r *http.Request, def, max int) (limit int, after string, err error) {
	limit = def
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > max {
			return 0, "", protocol.Errorf(http.StatusBadRequest, "limit: want a number from 1 to %d", max)
		}
		limit = n
	}
	return limit, r.URL.Query().Get("continue"), nil
}

// globParam reads a glob parameter and checks its syntax.
func globParam(r *http.Request, name string) (string, error) {
	g := r.URL.Query().Get(name)
	if g == "" {
		return "", nil
	}
	if _, err := path.Match(g, ""); err != nil {
		return "", protocol.Errorf(http.StatusBadRequest, "%s: bad glob %q: %v", name, g, err)
	}
	return g, nil
}

func match(glob, s string) bool {
	if glob == "" {
		return true
	}
	ok, _ := path.Match(glob, s)
	return ok
}

// sinceParam reads a time parameter: RFC 3339, or a duration back from now ("168h", "7d").
func (a *API) sinceParam(r *http.Request, name string) (time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return a.now().Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return a.now().Add(-d), nil
	}
	return time.Time{}, protocol.Errorf(http.StatusBadRequest, "%s: want an RFC 3339 time or a duration such as 24h or 7d", name)
}

type listResponse[T any] struct {
	Items    []T    `json:"items"`
	Continue string `json:"continue,omitempty"`
}

// pageOf sorts items by key and returns the first limit of them, with the key to continue
// from when more follow; an empty page lists no items rather than null.
func pageOf[T any](items []T, limit int, key func(T) string) listResponse[T] {
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	resp := listResponse[T]{Items: items}
	if len(items) > limit {
		resp.Items, resp.Continue = items[:limit], key(items[limit-1])
	}
	if resp.Items == nil {
		resp.Items = []T{}
	}
	return resp
}

func (a *API) hosts(w http.ResponseWriter, r *http.Request) {
	limit, after, err := page(r, 500, 5000)
	if err != nil {
		writeError(w, err)
		return
	}
	hostname, err := globParam(r, "hostname")
	if err != nil {
		writeError(w, err)
		return
	}
	labels := map[string]string{}
	for _, l := range r.URL.Query()["label"] {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			writeError(w, protocol.Errorf(http.StatusBadRequest, "label: want key=value, got %q", l))
			return
		}
		labels[k] = v
	}
	osID := r.URL.Query().Get("os")
	own, err := ownerParams(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var staleBefore time.Time
	if s := r.URL.Query().Get("stale"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			writeError(w, protocol.Errorf(http.StatusBadRequest, "stale: want a duration such as 3m"))
			return
		}
		staleBefore = a.now().Add(-d)
	}
	var refusedOnly bool
	if s := r.URL.Query().Get("refused"); s != "" {
		if refusedOnly, err = strconv.ParseBool(s); err != nil {
			writeError(w, protocol.Errorf(http.StatusBadRequest, "refused: want true or false"))
			return
		}
	}
	items, more := a.opts.Index.HostsAndRefused(after, limit, func(h *index.HostSummary) bool {
		if !match(hostname, h.Hostname) || (osID != "" && h.OSID != osID) || !own.keep(&h.Resolution) {
			return false
		}
		for k, v := range labels {
			if h.Labels[k] != v {
				return false
			}
		}
		if !staleBefore.IsZero() && h.Status != nil && !h.Status.LastSeen.Before(staleBefore) {
			return false
		}
		if refusedOnly && (h.Status == nil || h.Status.Refused == nil) {
			return false
		}
		return true
	})
	resp := listResponse[index.HostSummary]{Items: items}
	if items == nil {
		resp.Items = []index.HostSummary{}
	}
	if more {
		resp.Continue = items[len(items)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
}

// HostDetail is the whole inventory of one host.
type HostDetail struct {
	index.Summary
	Status        *store.HostStatus `json:"status,omitempty"`
	Ownership     *index.Why        `json:"ownership,omitempty"`
	Host          any               `json:"host"`
	Software      []SoftwareItem    `json:"software"`
	Services      any               `json:"services"`
	Listeners     any               `json:"listeners"`
	Sources       any               `json:"sources"`
	Events        []protocol.Event  `json:"events"`
	EventsDropped int               `json:"events_dropped,omitempty"`
}

// SoftwareItem is an installation with its title's descriptive fields.
type SoftwareItem struct {
	store.Installation
	Title string `json:"title"`
	model.PackageInfo
}

func (a *API) host(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	h, ok := a.opts.Index.Host(id)
	if !ok {
		if st, found := a.opts.Index.Status(id); found && st.Refused != nil {
			if _, enrolled := a.opts.Index.Agent(id); enrolled {
				ref := st.Refused
				writeError(w, protocol.Errorf(http.StatusNotFound, "host %q is enrolled but none of its reports was accepted: refused with %d since %s: %s",
					id, ref.Status, ref.Since.Format(time.RFC3339), ref.Reason))
				return
			}
		}
		writeError(w, protocol.Errorf(http.StatusNotFound, "no host %q", id))
		return
	}
	rec, err := a.opts.Index.DecodeHost(h.Raw, nil)
	if err != nil {
		writeError(w, err)
		return
	}
	d := HostDetail{Summary: h.Summary, Services: rec.Services, Listeners: rec.Listeners, Sources: rec.Sources,
		Events: rec.Events, EventsDropped: rec.EventsDropped}
	host := rec.Host
	if st, ok := a.opts.Index.Status(id); ok {
		d.Status = &st
		host.Memory.AvailableBytes, host.Memory.SwapFreeBytes = st.Capacity.MemoryAvailable, st.Capacity.SwapFree
		host.Filesystems = slices.Clone(host.Filesystems)
		for i := range host.Filesystems {
			for _, u := range st.Capacity.Filesystems {
				if u.Mountpoint == host.Filesystems[i].Mountpoint {
					host.Filesystems[i].UsedBytes, host.Filesystems[i].FreeBytes = u.UsedBytes, u.FreeBytes
				}
			}
		}
	}
	d.Host = host
	if why, err := a.opts.Index.Why("host:" + id); err == nil {
		d.Ownership = &why
	}
	d.Software = make([]SoftwareItem, len(rec.Software))
	for i, in := range rec.Software {
		it := SoftwareItem{Installation: in, Title: in.Title()}
		if t, ok := a.opts.Index.Title(in.Title()); ok {
			it.PackageInfo = t.PackageInfo
		}
		d.Software[i] = it
	}
	if d.Events == nil {
		d.Events = []protocol.Event{}
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *API) deleteHost(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	found, err := a.opts.Ingest.DeleteHost(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	if !found {
		writeError(w, protocol.Errorf(http.StatusNotFound, "no host %q", id))
		return
	}
	a.log.Info("host deleted", "host_id", id, "remote", r.RemoteAddr)
	w.WriteHeader(http.StatusNoContent)
}

// TitleItem is a software title of the fleet.
type TitleItem struct {
	Title          string    `json:"title"`
	Source         string    `json:"source"`
	Name           string    `json:"name"`
	Hosts          int       `json:"hosts"`
	InstalledHosts int       `json:"installed_hosts"`
	FirstSeen      time.Time `json:"first_seen,omitzero"`
	FirstHost      string    `json:"first_host,omitempty"`
	model.PackageInfo
	// The title's owner, fleet-wide, whether it is orphaned, and why.
	owners.Resolution
	// With unowned_new: the hosts where the title was installed after their first report,
	// sorted, at most maxInstallingHosts, and whether some were left off.
	InstallingHosts          []string `json:"installing_hosts,omitempty"`
	InstallingHostsTruncated bool     `json:"installing_hosts_truncated,omitempty"`
}

// maxInstallingHosts bounds the installing hosts listed per title of unowned new software.
const maxInstallingHosts = 100

func (a *API) software(w http.ResponseWriter, r *http.Request) {
	limit, after, err := page(r, 1000, 10000)
	if err != nil {
		writeError(w, err)
		return
	}
	name, err := globParam(r, "name")
	if err != nil {
		writeError(w, err)
		return
	}
	since, err := a.sinceParam(r, "new_since")
	if err != nil {
		writeError(w, err)
		return
	}
	own, err := ownerParams(r)
	if err != nil {
		writeError(w, err)
		return
	}
	// Unowned new software: unowned titles installed on an enrolled host (not in its first
	// report), first seen in the fleet within the window.
	unownedNew, err := boolParam(r, "unowned_new")
	if err != nil {
		writeError(w, err)
		return
	}
	window, err := windowParam(r, "window", 7*24*time.Hour)
	if err != nil {
		writeError(w, err)
		return
	}
	newSince := a.now().Add(-window)
	q := r.URL.Query()
	source := q.Get("source")
	installedOnly := q.Get("installed") == "true"
	minHosts := 1
	if s := q.Get("min_hosts"); s != "" {
		if minHosts, err = strconv.Atoi(s); err != nil || minHosts < 0 {
			writeError(w, protocol.Errorf(http.StatusBadRequest, "min_hosts: want a number of 0 or more"))
			return
		}
	}
	var items []TitleItem
	for _, t := range a.opts.Index.Titles() {
		title := t.Key()
		if title <= after || (source != "" && t.Source != source) || !match(name, t.Name) || t.Hosts < minHosts ||
			(installedOnly && t.Installed == 0) || (!since.IsZero() && (t.FirstSeen.IsZero() || t.FirstSeen.Before(since))) || !own.keep(&t.Ownership) ||
			(unownedNew && (t.Installed == 0 || t.Ownership.Owned() || t.FirstSeen.IsZero() || t.FirstSeen.Before(newSince))) {
			continue
		}
		items = append(items, TitleItem{Title: title, Source: t.Source, Name: t.Name, Hosts: t.Hosts, InstalledHosts: t.Installed,
			FirstSeen: t.FirstSeen, FirstHost: t.FirstHost, PackageInfo: t.PackageInfo,
			Resolution: t.Ownership})
	}
	resp := pageOf(items, limit, func(t TitleItem) string { return t.Title })
	if unownedNew {
		for i := range resp.Items {
			it := &resp.Items[i]
			it.InstallingHosts, it.InstallingHostsTruncated = a.opts.Index.InstallingHosts(it.Title, maxInstallingHosts)
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *API) services(w http.ResponseWriter, r *http.Request) {
	limit, after, err := page(r, 1000, 10000)
	if err != nil {
		writeError(w, err)
		return
	}
	name, err := globParam(r, "name")
	if err != nil {
		writeError(w, err)
		return
	}
	kind := r.URL.Query().Get("kind")
	var items []index.ServiceEntry
	for _, s := range a.opts.Index.Services() {
		if s.Title <= after || (kind != "" && s.Kind != kind) || !match(name, s.Name) {
			continue
		}
		items = append(items, s)
	}
	writeJSON(w, http.StatusOK, pageOf(items, limit, func(s index.ServiceEntry) string { return s.Title }))
}
