// Package index is the collector's in-memory view of the store, kept by list and watch like
// a Kubernetes informer's Reflector and Store: it lists every key at one revision into a
// fresh state, swaps it in whole, then applies the changes from the next revision on, and
// lists again when etcd has compacted the revision it was watching from. Every collector
// replica on one etcd cluster builds the same index, so all of them serve the same answers.
// Readiness waits for the first list.
//
// Only the list and the watch write the index, through one function per key kind
// (apply.go), the same for both: a host's entry is built from its record alone, and the
// derived sets (hosts per title, the installers of each title, hosts per service) follow
// the entries through replaceHost, which takes the old entry's part out and puts the new
// one's in. So a state reached by watching a history and one listed at its end are the same
// (cache_test.go). Writers never touch the index: they write the store (internal/store's
// Update), and read their own writes from a small layer of their own until the watch
// brings them (collector/ingest, written.go). The API and the metrics only read.
//
// An ownership registry that changes is resolved aside, under the read lock, and swapped
// in under the write lock (owners.go), so reads go on while every asset is resolved again.
package index

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/internal/store"
)

// Source is what an index lists and watches: the store (the default), or a fake in tests.
type Source interface {
	// List calls fn for every key, all read at one revision, which it returns.
	List(ctx context.Context, pageSize int64, fn func(store.KV) error) (int64, error)
	// Watch calls fn with the changes from revision rev on, and the revision each batch
	// brings the index to; it returns an error wrapping store.ErrCompacted when rev is
	// compacted away.
	Watch(ctx context.Context, rev int64, fn func(evs []store.Event, rev int64) error) error
}

// Options configure an Index.
type Options struct {
	// Store gives the key layout, and is the Source unless Source is set.
	Store      *store.Store
	Source     Source
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// PageSize is the number of keys per list request (default 2,000: etcd counts the rest
	// of the range for every page, so small pages make a list of a big store quadratic).
	PageSize int64
}

// Index holds the fleet in memory.
type Index struct {
	st       *store.Store
	src      Source
	log      *slog.Logger
	pageSize int64

	mu  sync.RWMutex
	rev int64
	// revNow is rev, for readers that take no lock.
	revNow  atomic.Int64
	decoded atomic.Pointer[func(hostID string, rev int64, value []byte) *store.HostRecord]
	synced  bool
	ready   chan struct{}
	cond    *sync.Cond // broadcast when rev advances

	// state is everything a list builds: a relist swaps it whole, so nothing the watch
	// maintains is left behind from before.
	state
	// bulk is set while list fills a fresh index, which resolves everything once at the end.
	bulk bool

	metrics *metrics
}

// New returns an Index; Run fills it.
func New(opts Options) (*Index, error) {
	if opts.Store == nil {
		return nil, errors.New("index: no store")
	}
	ix := &Index{st: opts.Store, src: opts.Source, log: opts.Logger, pageSize: opts.PageSize, ready: make(chan struct{})}
	if ix.src == nil {
		ix.src = opts.Store
	}
	if ix.log == nil {
		ix.log = slog.New(slog.DiscardHandler)
	}
	ix.cond = sync.NewCond(ix.mu.RLocker())
	ix.reset()
	ix.metrics = newMetrics(ix)
	if opts.Registerer != nil {
		if err := ix.metrics.register(opts.Registerer); err != nil {
			return nil, err
		}
	}
	return ix, nil
}

// Ready is closed once the index holds a complete list of the store.
func (ix *Index) Ready() <-chan struct{} { return ix.ready }

// Run lists and watches the store until ctx ends, listing again after a compaction or a
// broken watch (with a pause of up to 5 s between failing attempts).
func (ix *Index) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		rev, err := ix.list(ctx)
		if err == nil {
			backoff = 100 * time.Millisecond
			err = ix.src.Watch(ctx, rev+1, ix.applyEvents)
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, store.ErrCompacted) {
			ix.log.Info("watch revision compacted; listing again", "err", err)
		} else {
			ix.log.Warn("store watch failed; listing again", "err", err, "retry_in", backoff)
		}
		ix.metrics.relists.Inc()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// list reads the whole store into a fresh index and swaps it in.
func (ix *Index) list(ctx context.Context) (int64, error) {
	fresh := &Index{st: ix.st, log: ix.log, bulk: true}
	fresh.reset()
	start := time.Now()
	// Host records, the bulk of the work, are decoded in parallel once everything else (the
	// builds they name among it) is in.
	var hosts []store.KV
	rev, err := ix.src.List(ctx, ix.pageSize, func(kv store.KV) error {
		if kind, _, ok := ix.st.Split(kv.Key); ok && kind == store.KindHost {
			hosts = append(hosts, kv)
			return nil
		}
		fresh.apply(store.Event{KV: kv})
		return nil
	})
	if err != nil {
		return 0, err
	}
	fresh.applyListedHosts(hosts)
	fresh.bulk = false
	fresh.resolveAll()
	ix.mu.Lock()
	ix.state = fresh.state
	ix.rev = rev
	ix.revNow.Store(rev)
	first := !ix.synced
	ix.synced = true
	ix.mu.Unlock()
	ix.cond.Broadcast()
	if first {
		close(ix.ready)
	}
	ix.log.Info("store listed", "revision", rev, "hosts", len(fresh.hosts), "titles", len(fresh.titles), "took", time.Since(start).Round(time.Millisecond))
	return rev, nil
}

func (ix *Index) applyEvents(evs []store.Event, rev int64) error {
	ix.mu.Lock()
	for _, ev := range evs {
		if ix.st.IsRegistry(ev.Key) {
			// Resolved aside: the write lock is released meanwhile.
			ix.mu.Unlock()
			ix.takeRegistry(ev)
			ix.mu.Lock()
			continue
		}
		ix.apply(ev)
	}
	if rev > ix.rev {
		ix.rev = rev
		ix.revNow.Store(rev)
	}
	ix.mu.Unlock()
	ix.metrics.events.Add(float64(len(evs)))
	ix.metrics.observeRev(ix.st, rev)
	ix.cond.Broadcast()
	return nil
}

// Revision returns the store revision the index reflects. It takes no lock: a writer's
// read-your-writes layer asks it while the watch applies events.
func (ix *Index) Revision() int64 { return ix.revNow.Load() }

// UseDecoded gives the index a way to the host records a writer of this process decoded
// (or built) already, by host ID and revision, nil when it holds none: the watch then takes that
// record instead of decoding the value it brings. It must not call the index.
func (ix *Index) UseDecoded(decoded func(hostID string, rev int64, value []byte) *store.HostRecord) {
	ix.decoded.Store(&decoded)
}

// WaitRevision waits until the index reflects rev or ctx ends.
func (ix *Index) WaitRevision(ctx context.Context, rev int64) error {
	stop := context.AfterFunc(ctx, func() {
		ix.mu.Lock()
		ix.cond.Broadcast()
		ix.mu.Unlock()
	})
	defer stop()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for ix.rev < rev {
		if err := ctx.Err(); err != nil {
			return err
		}
		ix.cond.Wait()
	}
	return nil
}
