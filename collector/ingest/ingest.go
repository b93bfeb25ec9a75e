// Package ingest turns agents' enrollments and reports into store writes: it checks
// credentials, applies full reports and deltas to the host's record (compare-and-swap on the
// record's revision), adds titles new to the fleet to the catalog, and batches liveness and
// capacity into the status shards.
//
// Enrollment (enroll.go) admits new hosts with the fleet's enroll secret, but the secret,
// which every host holds, never takes over a host ID that is enrolled already: that needs
// proof, the host's current credential (the agent keeps it after a 401 and presents it),
// upon which the credential is rotated, or a verified client certificate named after the
// host ID (the API passes the names of the certificate the client CA signed), or the token
// of the enrollment that made the credential (a retry whose answer was lost). Without proof the re-enrollment policy decides:
// approve (the default) holds the request as a pending enrollment (a leased etcd key with
// the remote address, hostname, agent version, time and the hash of a token only the
// requesting agent holds) until an admin approves it, when that agent's next request
// with its token gets a credential and the old one stops working, or denies it; refuse
// answers 409; allow replaces the credential as older releases did, which lets anyone with
// the enroll secret pose as any host. Enrollment of a host ID that has no agent (new, or
// deleted by an admin) needs the secret alone, which makes `hosts delete` a way back too.
// Failed enrollments (a wrong secret, a held or refused takeover) are limited by token
// buckets per remote address and overall (429 with Retry-After); successful ones spend
// nothing, so a fleet enrolling at once is not slowed.
package ingest

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/collector/index"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
)

// Options configure an Ingest.
type Options struct {
	Store *store.Store
	Index *index.Index
	// EnrollSecret is the fleet's enroll secret; EnrollSecrets add more, all accepted (while
	// one is rolled out and another retired; see SetEnrollSecrets). None refuses every
	// enrollment.
	EnrollSecret  string
	EnrollSecrets []string
	// StatusFlushInterval is how often liveness and capacity are written (default 30 s).
	StatusFlushInterval time.Duration
	// ReenrollPolicy, PendingRetryAfter and EnrollRateLimit govern enrollments of host
	// IDs that are enrolled already, and failed enrollments (see enroll.go).
	ReenrollPolicy    ReenrollPolicy
	PendingRetryAfter time.Duration
	EnrollRateLimit   RateLimit
	Logger            *slog.Logger
	Registerer        prometheus.Registerer
	Now               func() time.Time
}

// Ingest handles agents' requests.
type Ingest struct {
	st *store.Store
	ix *index.Index
	// secrets are the accepted enroll secrets, replaced whole by SetEnrollSecrets.
	secrets atomic.Pointer[[][]byte]
	flush   time.Duration
	log     *slog.Logger
	now     func() time.Time
	locks   [1024]sync.Mutex

	mu    sync.Mutex
	dirty map[string]map[string]store.HostStatus // shard → host → status

	m   *metrics
	enr *enrollState
}

// DefaultStatusFlushInterval is how often batched host statuses are written by default.
const DefaultStatusFlushInterval = 30 * time.Second

// New validates opts and returns an Ingest. It starts nothing; Run flushes statuses.
func New(opts Options) (*Ingest, error) {
	if opts.Store == nil || opts.Index == nil {
		return nil, errors.New("ingest: store and index are required")
	}
	g := &Ingest{st: opts.Store, ix: opts.Index, flush: opts.StatusFlushInterval,
		log: opts.Logger, now: opts.Now, dirty: map[string]map[string]store.HostStatus{}}
	g.SetEnrollSecrets(append([]string{opts.EnrollSecret}, opts.EnrollSecrets...))
	if g.flush <= 0 {
		g.flush = DefaultStatusFlushInterval
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	g.m = newMetrics()
	if opts.Registerer != nil {
		if err := g.m.register(opts.Registerer); err != nil {
			return nil, err
		}
	}
	if err := g.initEnroll(opts); err != nil {
		return nil, err
	}
	return g, nil
}

// Error statuses for the HTTP layer.
var (
	errUnauthorized = protocol.Errorf(http.StatusUnauthorized, "unknown or revoked credential: enroll again")
	errBadSecret    = protocol.Errorf(http.StatusUnauthorized, "wrong enroll secret: not one this collector accepts (it may have been rotated)")
)

// Authenticate returns the host a credential belongs to.
func (g *Ingest) Authenticate(ctx context.Context, cred string) (store.Agent, error) {
	i := strings.LastIndexByte(cred, '.')
	if i <= 0 || len(cred) > protocol.MaxCredentialLn {
		return store.Agent{}, errUnauthorized
	}
	hostID := cred[:i]
	a, ok := g.ix.Agent(hostID)
	if !ok {
		// Enrolled through another replica a moment ago: ask the store.
		kv, err := g.st.Get(ctx, store.KindAgent, hostID)
		if err != nil {
			return store.Agent{}, g.storeErr("read agent", err)
		}
		if kv.Value == nil {
			return store.Agent{}, errUnauthorized
		}
		g.ix.Observe(kv)
		if a, ok = g.ix.Agent(hostID); !ok {
			return store.Agent{}, errUnauthorized
		}
	}
	if subtle.ConstantTimeCompare([]byte(store.HashCredential(cred)), []byte(a.CredentialSHA256)) != 1 {
		return store.Agent{}, errUnauthorized
	}
	return a.Agent, nil
}

// Report applies a report of the host agent is enrolled for.
func (g *Ingest) Report(ctx context.Context, agent store.Agent, r *protocol.Report) (*protocol.ReportResponse, error) {
	start := time.Now()
	resp, err := g.report(ctx, agent, r)
	result := "error"
	switch {
	case err == nil && resp.Duplicate:
		result = "duplicate"
	case err == nil:
		result = resp.Status
	default:
		var pe *protocol.Error
		if errors.As(err, &pe) && pe.Status < 500 {
			result = "rejected"
		}
		g.Refused(agent, r, err)
	}
	kind := r.Kind
	if kind != protocol.KindFull && kind != protocol.KindDelta && kind != protocol.KindHeartbeat {
		kind = "invalid"
	}
	g.m.reports.WithLabelValues(kind, result).Inc()
	g.m.duration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	return resp, err
}

func (g *Ingest) report(ctx context.Context, agent store.Agent, r *protocol.Report) (*protocol.ReportResponse, error) {
	if r.HostID != agent.HostID {
		return nil, protocol.Errorf(http.StatusForbidden, "this credential reports for host %s, not %s", agent.HostID, r.HostID)
	}
	// Free text never costs a report: what an older or hostile agent left dirty is cleaned
	// and counted, and only then is the structure validated.
	cleaned := protocol.CleanReport(r)
	for field, n := range cleaned {
		g.m.cleaned.WithLabelValues(field).Add(float64(n))
	}
	if err := protocol.Validate(r); err != nil {
		return nil, err
	}
	lock := g.lock(r.HostID)
	lock.Lock()
	defer lock.Unlock()
	now := g.now().UTC().Truncate(time.Second)
	for attempt := 0; ; attempt++ {
		resp, err := g.apply(ctx, agent, r, now, cleaned != nil)
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			g.m.conflicts.Inc()
			continue
		}
		if err != nil {
			return nil, err
		}
		if resp.Status == protocol.StatusAccepted {
			g.seen(r, now)
		}
		return resp, nil
	}
}

// apply does one read-modify-write of the host record. cleaned says whether the report's
// text had to be cleaned: its hash then covers bytes the collector no longer has.
func (g *Ingest) apply(ctx context.Context, agent store.Agent, r *protocol.Report, now time.Time, cleaned bool) (*protocol.ReportResponse, error) {
	if r.Kind == protocol.KindHeartbeat && len(r.Events) == 0 && r.EventsDropped == 0 {
		// A heartbeat changes no record: answer from the index's summary, without decoding it.
		if h, ok := g.ix.Host(r.HostID); ok {
			return verdict(r, agent, true, h.Summary.Hash, h.Summary.Seq, h.Summary.UpdatedAt), nil
		}
	}
	kv, err := g.current(ctx, store.KindHost, r.HostID)
	if err != nil {
		return nil, g.storeErr("read host", err)
	}
	var old *store.HostRecord
	if kv.Value != nil {
		old, err = g.ix.DecodeHost(kv.Value)
		if errors.Is(err, store.ErrUnknownBuild) {
			// Written by another replica with builds this index has not seen yet: they
			// precede the record in the store, so wait until the index reaches it.
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			werr := g.ix.WaitRevision(wctx, kv.ModRevision)
			cancel()
			if werr != nil {
				return nil, g.storeErr("wait for the index", werr)
			}
			old, err = g.ix.DecodeHost(kv.Value)
		}
		if err != nil {
			// An unreadable record is replaced by the next full report.
			g.log.Warn("unreadable host record; asking for a full report", "host_id", r.HostID, "err", err)
			old = nil
		}
	}
	held := ""
	var heldSeq uint64
	var updated time.Time
	if old != nil {
		held, heldSeq, updated = old.Hash, old.Seq, old.UpdatedAt
	}
	if resp := verdict(r, agent, old != nil, held, heldSeq, updated); resp != nil {
		return resp, nil
	}
	var st protocol.State
	switch r.Kind {
	case protocol.KindDelta:
		if old == nil || r.BaseHash != old.Hash {
			return &protocol.ReportResponse{Status: protocol.StatusNeedFull, Hash: held, Seq: heldSeq}, nil
		}
		base := old.State()
		protocol.Normalize(&base)
		st = protocol.Apply(&base, r.Delta)
		if protocol.Hash(&st) != r.Hash {
			g.log.Info("delta does not lead to the report's hash; asking for a full report", "host_id", r.HostID, "seq", r.Seq)
			return &protocol.ReportResponse{Status: protocol.StatusNeedFull, Hash: held, Seq: heldSeq}, nil
		}
	case protocol.KindHeartbeat:
		// It carries events (a package installed and removed again): the state stays, the
		// events are recorded.
		st = old.State()
		protocol.Normalize(&st)
	case protocol.KindFull:
		st = *r.State
		protocol.Normalize(&st)
		if h := protocol.Hash(&st); h != r.Hash {
			// An agent that hashed its text before it was cleaned (here, or by the JSON
			// decoder, which replaces invalid UTF-8): store the cleaned state under the
			// agent's hash, so that it keeps getting its own hash back (see the protocol
			// package doc). Otherwise the two sides disagree on structure.
			replaced := protocol.Replaced(&st)
			if !cleaned && replaced == nil {
				return nil, protocol.Errorf(http.StatusBadRequest, "hash: the state hashes to %s, not %s", h, r.Hash)
			}
			for field, n := range replaced {
				g.m.cleaned.WithLabelValues(field).Add(float64(n))
			}
			g.log.Debug("storing a cleaned state under the agent's hash", "host_id", r.HostID, "seq", r.Seq, "cleaned_hash", h)
		}
	}
	if old != nil && old.Hash == r.Hash && len(r.Events) == 0 && r.EventsDropped == 0 {
		// Nothing changed (a full report after a restart of the agent, say): no write.
		return &protocol.ReportResponse{Status: protocol.StatusAccepted, Hash: held, Seq: heldSeq}, nil
	}
	rec := g.record(old, r, &st, now)
	if err := g.catalog(ctx, r, &st, now); err != nil {
		return nil, err
	}
	numbers, err := g.number(ctx, rec.Software)
	if err != nil {
		return nil, err
	}
	val, err := store.EncodeHost(rec, func(in store.Installation) (uint32, bool) {
		id, ok := numbers[store.BuildKey(in.Source, in.Name, in.Arch, in.Version)]
		return id, ok
	})
	if err != nil {
		return nil, protocol.Errorf(http.StatusBadRequest, "host record: %v", err)
	}
	if len(val) > maxRecordBytes {
		return nil, protocol.Errorf(http.StatusRequestEntityTooLarge, "the host's inventory takes %d bytes compressed, over the limit of %d", len(val), maxRecordBytes)
	}
	rev, err := g.timedPut(ctx, "put_host", store.KindHost, r.HostID, val, kv.ModRevision)
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, err
		}
		return nil, g.storeErr("write host", err)
	}
	g.ix.ObserveHost(store.KV{Key: g.st.Key(store.KindHost, r.HostID), Value: val, ModRevision: rev}, rec)
	g.m.events.Add(float64(len(r.Events)))
	return &protocol.ReportResponse{Status: protocol.StatusAccepted, Hash: rec.Hash, Seq: rec.Seq}, nil
}

// verdict answers the reports that need no new record, from what the collector holds for the
// host (its hash and seq, and when its record last changed): a report older than the one that
// made the record (a retry that crossed a newer report; re-enrollment starts the sequence
// again), and heartbeats without events. It returns nil for a report to apply.
func verdict(r *protocol.Report, agent store.Agent, exists bool, hash string, seq uint64, updated time.Time) *protocol.ReportResponse {
	if exists && r.Seq <= seq && !updated.Before(agent.EnrolledAt.Truncate(time.Second)) {
		if r.Hash == hash {
			return &protocol.ReportResponse{Status: protocol.StatusAccepted, Hash: hash, Seq: seq, Duplicate: true}
		}
		// The agent sends a full report numbered above the Seq in the answer (its own
		// counter may have gone back with a restored state directory).
		return &protocol.ReportResponse{Status: protocol.StatusNeedFull, Hash: hash, Seq: seq}
	}
	if r.Kind != protocol.KindHeartbeat {
		return nil
	}
	if !exists || r.BaseHash != hash {
		return &protocol.ReportResponse{Status: protocol.StatusNeedFull, Hash: hash, Seq: seq}
	}
	if len(r.Events) > 0 || r.EventsDropped > 0 {
		// Its events are recorded like a delta's.
		return nil
	}
	return &protocol.ReportResponse{Status: protocol.StatusAccepted, Hash: hash, Seq: seq}
}

// maxRecordBytes keeps a host record well under etcd's 1.5 MiB request limit.
const maxRecordBytes = 1 << 20

// record builds the host's new record from its old one (nil on the first report).
func (g *Ingest) record(old *store.HostRecord, r *protocol.Report, st *protocol.State, now time.Time) *store.HostRecord {
	rec := &store.HostRecord{HostID: r.HostID, Hash: r.Hash, Seq: r.Seq, FirstReport: now, UpdatedAt: now,
		Host: st.Host, Services: st.Services, Listeners: st.Listeners, Sources: st.Sources}
	had := map[string]store.Installation{} // title → how it came to the host
	if old != nil {
		rec.FirstReport = old.FirstReport
		rec.Events, rec.EventsDropped = old.Events, old.EventsDropped
		for _, in := range old.Software {
			if prev, ok := had[in.Title()]; !ok || (in.Installed && !prev.Installed) {
				had[in.Title()] = in
			}
		}
	}
	// When each title arrived, from the events: the earliest install or upgrade.
	arrived := map[string]time.Time{}
	for _, e := range r.Events {
		if e.Type == protocol.EventRemoved {
			continue
		}
		if t, ok := arrived[e.Title()]; !ok || e.Time.Before(t) {
			arrived[e.Title()] = e.Time.UTC()
		}
	}
	rec.Software = make([]store.Installation, len(st.Software))
	for i, p := range st.Software {
		in := store.Installation{Source: p.Source, Name: p.Name, Version: p.Version, Arch: p.Arch, InstallTime: p.InstallTime, State: p.State}
		switch prev, ok := had[p.Title()]; {
		case ok:
			in.Installed, in.InstalledAt = prev.Installed, prev.InstalledAt
		case old != nil:
			// New on a host that had reported before: installed while Onus watched.
			in.Installed = true
			switch {
			case !arrived[p.Title()].IsZero():
				in.InstalledAt = arrived[p.Title()]
			case !p.InstallTime.IsZero() && !p.InstallTime.After(now):
				in.InstalledAt = p.InstallTime
			default:
				in.InstalledAt = now
			}
		}
		rec.Software[i] = in
	}
	rec.Events = appendEvents(rec.Events, r.Events)
	rec.EventsDropped += r.EventsDropped
	if n := len(rec.Events) - store.MaxHostEvents; n > 0 {
		rec.Events = rec.Events[n:]
		rec.EventsDropped += n
	}
	return rec
}

// appendEvents adds the events not already held (a report whose answer was lost is sent
// again with the same events).
func appendEvents(held, fresh []protocol.Event) []protocol.Event {
	type key struct {
		typ, title, arch, version string
		t                         int64
	}
	seen := make(map[key]bool, len(held))
	k := func(e protocol.Event) key { return key{e.Type, e.Title(), e.Arch, e.Version, e.Time.Unix()} }
	for _, e := range held {
		seen[k(e)] = true
	}
	out := slices.Clip(held)
	for _, e := range fresh {
		if !seen[k(e)] {
			seen[k(e)] = true
			e.Time, e.DetectedAt = e.Time.UTC(), e.DetectedAt.UTC()
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b protocol.Event) int { return a.Time.Compare(b.Time) })
	return out
}

// catalog creates the catalog entries of the titles new to the fleet.
func (g *Ingest) catalog(ctx context.Context, r *protocol.Report, st *protocol.State, now time.Time) error {
	titles := make([]string, 0, len(st.Software))
	for _, p := range st.Software {
		titles = append(titles, p.Title())
	}
	have := g.ix.Catalogued(titles)
	if len(have) == len(titles) {
		return nil
	}
	// Descriptive fields come from the report: a full state or a delta's upserts.
	var described []model.Package
	if r.State != nil {
		described = r.State.Software
	} else if r.Delta != nil {
		described = r.Delta.SoftwareUpsert
	}
	desc := make(map[string]model.Package, len(described))
	for _, p := range described {
		desc[p.Title()] = p
	}
	first := map[string]time.Time{}
	for _, e := range r.Events {
		if e.Type != protocol.EventRemoved && !e.Time.After(now) {
			if t, ok := first[e.Title()]; !ok || e.Time.Before(t) {
				first[e.Title()] = e.Time.UTC()
			}
		}
	}
	values := map[string][]byte{}
	for _, p := range st.Software {
		if have[p.Title()] {
			continue
		}
		t := store.Title{Source: p.Source, Name: p.Name, FirstSeen: now, FirstHost: r.HostID, PackageInfo: desc[p.Title()].PackageInfo}
		if f, ok := first[p.Title()]; ok {
			t.FirstSeen = f
		}
		val, err := jsonMarshal(t)
		if err != nil {
			return err
		}
		values[store.TitleName(p.Source, p.Name)] = val
	}
	start := time.Now()
	created, err := g.st.CreateAll(ctx, store.KindTitle, values)
	g.m.storeOps.WithLabelValues("create_titles").Observe(time.Since(start).Seconds())
	if err != nil {
		return g.storeErr("write titles", err)
	}
	g.m.titles.Add(float64(len(created)))
	return nil
}

// number returns the build numbers of the installations, numbering the builds new to the
// fleet first.
func (g *Ingest) number(ctx context.Context, sw []store.Installation) (map[string]uint32, error) {
	keys := make([]string, len(sw))
	for i, in := range sw {
		keys[i] = store.BuildKey(in.Source, in.Name, in.Arch, in.Version)
	}
	numbers := g.ix.BuildNumbers(keys)
	if len(numbers) == len(keys) {
		return numbers, nil
	}
	var missing []store.Build
	for i, in := range sw {
		if _, ok := numbers[keys[i]]; !ok {
			missing = append(missing, store.Build{Source: in.Source, Name: in.Name, Arch: in.Arch, Version: in.Version})
		}
	}
	start := time.Now()
	kvs, err := g.st.NumberBuilds(ctx, missing)
	g.m.storeOps.WithLabelValues("number_builds").Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, g.storeErr("number builds", err)
	}
	for _, kv := range kvs {
		g.ix.Observe(kv)
	}
	numbers = g.ix.BuildNumbers(keys)
	if len(numbers) != len(keys) {
		return nil, g.storeErr("number builds", fmt.Errorf("%d builds still without a number", len(keys)-len(numbers)))
	}
	return numbers, nil
}

// seen records a report's liveness and capacity for the next status flush.
func (g *Ingest) seen(r *protocol.Report, now time.Time) {
	shard := store.StatusShard(r.HostID)
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.dirty[shard]
	if m == nil {
		m = map[string]store.HostStatus{}
		g.dirty[shard] = m
	}
	m[r.HostID] = store.HostStatus{LastSeen: now, Seq: r.Seq, Capacity: r.Capacity}
}

// Run writes the batched statuses every StatusFlushInterval until ctx ends, then once more.
func (g *Ingest) Run(ctx context.Context) error {
	t := time.NewTicker(g.flush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return g.Flush(fctx)
		case <-t.C:
			if err := g.Flush(ctx); err != nil && ctx.Err() == nil {
				g.log.Warn("writing host statuses failed; keeping them for the next flush", "err", err)
				_ = g.storeErr("flush statuses", err)
			}
		}
	}
}

// Flush writes the pending statuses, one compare-and-swap per shard, merged with what the
// shard holds (another replica may have written hosts of the same shard).
func (g *Ingest) Flush(ctx context.Context) error {
	g.mu.Lock()
	pending := g.dirty
	g.dirty = map[string]map[string]store.HostStatus{}
	g.mu.Unlock()
	var errs []error
	for shard, hosts := range pending {
		if err := g.flushShard(ctx, shard, hosts); err != nil {
			errs = append(errs, err)
			// Put the shard back, unless newer statuses arrived meanwhile.
			g.mu.Lock()
			m := g.dirty[shard]
			if m == nil {
				m = map[string]store.HostStatus{}
				g.dirty[shard] = m
			}
			for id, s := range hosts {
				if cur, ok := m[id]; ok {
					s, _ = mergeStatus(s, cur)
				}
				m[id] = s
			}
			g.mu.Unlock()
		}
	}
	g.m.flushes.Inc()
	return errors.Join(errs...)
}

func (g *Ingest) flushShard(ctx context.Context, shard string, hosts map[string]store.HostStatus) error {
	cur, rev := g.ix.StatusShard(shard)
	for attempt := 0; ; attempt++ {
		merged := cur
		changed := false
		for id, s := range hosts {
			old, ok := merged[id]
			if ok {
				var differs bool
				if s, differs = mergeStatus(old, s); !differs {
					continue
				}
			}
			merged[id] = s
			changed = true
		}
		if !changed {
			return nil
		}
		// Hosts deleted since they reported are not written back; an enrolled host without
		// a record yet keeps its status (its first reports may be refused).
		for id := range hosts {
			_, recorded := g.ix.Host(id)
			if _, enrolled := g.ix.Agent(id); !recorded && !enrolled {
				delete(merged, id)
			}
		}
		val, err := store.EncodeStatus(merged)
		if err != nil {
			return err
		}
		newRev, err := g.timedPut(ctx, "put_status", store.KindStatus, shard, val, rev)
		if err == nil {
			g.ix.Observe(store.KV{Key: g.st.Key(store.KindStatus, shard), Value: val, ModRevision: newRev})
			return nil
		}
		if !errors.Is(err, store.ErrConflict) || attempt >= 5 {
			return err
		}
		kv, err := g.st.Get(ctx, store.KindStatus, shard)
		if err != nil {
			return err
		}
		cur, rev = map[string]store.HostStatus{}, kv.ModRevision
		if kv.Value != nil {
			if cur, err = store.DecodeStatus(kv.Value); err != nil {
				g.log.Warn("unreadable status shard replaced", "shard", shard, "err", err)
				cur = map[string]store.HostStatus{}
			}
		}
	}
}

// DeleteHost removes a host: its agent (so its credential stops working), its record and its
// status.
func (g *Ingest) DeleteHost(ctx context.Context, hostID string) (bool, error) {
	lock := g.lock(hostID)
	lock.Lock()
	defer lock.Unlock()
	for attempt := 0; ; attempt++ {
		a, err := g.current(ctx, store.KindAgent, hostID)
		if err != nil {
			return false, g.storeErr("read agent", err)
		}
		h, err := g.current(ctx, store.KindHost, hostID)
		if err != nil {
			return false, g.storeErr("read host", err)
		}
		if a.ModRevision == 0 && h.ModRevision == 0 {
			return false, nil
		}
		err = g.st.Delete(ctx, map[string]int64{a.Key: a.ModRevision, h.Key: h.ModRevision})
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return false, g.storeErr("delete host", err)
		}
		g.ix.Forget(a.Key)
		g.ix.Forget(h.Key)
		break
	}
	g.mu.Lock()
	delete(g.dirty[store.StatusShard(hostID)], hostID)
	g.mu.Unlock()
	// Drop the host from its status shard too.
	shard := store.StatusShard(hostID)
	for attempt := 0; attempt < 5; attempt++ {
		cur, rev := g.ix.StatusShard(shard)
		if _, ok := cur[hostID]; !ok {
			break
		}
		delete(cur, hostID)
		val, err := store.EncodeStatus(cur)
		if err != nil {
			return true, err
		}
		if _, err := g.st.Put(ctx, store.KindStatus, shard, val, rev); err == nil || !errors.Is(err, store.ErrConflict) {
			break
		}
		if kv, err := g.st.Get(ctx, store.KindStatus, shard); err == nil {
			g.ix.Observe(kv)
		}
	}
	return true, nil
}

// current returns a host record as the index holds it, which a compare-and-swap then
// checks; other keys, and records the index lacks (a write of another replica not yet
// watched), are read from the store. A stale index only costs a retried write.
func (g *Ingest) current(ctx context.Context, kind, name string) (store.KV, error) {
	if kind == store.KindHost {
		if h, ok := g.ix.Host(name); ok {
			return store.KV{Key: g.st.Key(kind, name), Value: h.Raw, ModRevision: h.ModRevision}, nil
		}
	}
	return g.st.Get(ctx, kind, name)
}

func (g *Ingest) timedPut(ctx context.Context, op, kind, name string, val []byte, rev int64) (int64, error) {
	start := time.Now()
	newRev, err := g.st.Put(ctx, kind, name, val, rev)
	g.m.storeOps.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if errors.Is(err, store.ErrConflict) {
		// Our view was stale: refresh the index entry from the store before the retry.
		if kv, gerr := g.st.Get(ctx, kind, name); gerr == nil && kv.Value != nil {
			g.ix.Observe(kv)
		}
	}
	return newRev, err
}

func (g *Ingest) lock(hostID string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(hostID))
	return &g.locks[h.Sum32()%uint32(len(g.locks))]
}
