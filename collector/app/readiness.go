package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/collector/ingest"
	"github.com/onus-project/onus/internal/store"
)

// Readiness defaults: a probe every 2 s, each allowed 2 s; not ready after 3 failures in a
// row (about 6 s of an outage: one slow request does not take a replica out of the load
// balancer) or at once on NOSPACE (it does not pass by itself); ready again after 2
// successes.
const (
	defaultProbeInterval = 2 * time.Second
	probeTimeout         = 2 * time.Second
	probeFailAfter       = 3
	probeOKAfter         = 2
)

// storeProbe says whether the store can take writes, from a background probe, for /readyz
// and for the agents' endpoints.
type storeProbe struct {
	st       *store.Store
	log      *slog.Logger
	interval time.Duration

	mu         sync.Mutex
	err        *ingest.StoreError // nil while writable
	fails, oks int

	writable, nospace prometheus.Gauge
	probes            *prometheus.CounterVec
}

func newStoreProbe(st *store.Store, interval time.Duration, log *slog.Logger, reg prometheus.Registerer) (*storeProbe, error) {
	if interval <= 0 {
		interval = defaultProbeInterval
	}
	const ns, sub = "onus", "collector"
	p := &storeProbe{st: st, log: log, interval: interval,
		writable: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "store_writable",
			Help: "1 while the store takes writes by the readiness probe, 0 after consecutive failures or a NOSPACE answer (readyz fails)."}),
		nospace: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "store_nospace",
			Help: "1 while etcd answers writes with NOSPACE (its backend quota is full), by the readiness probe."}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "store_probes_total",
			Help: "Readiness probes of the store by result (ok, unavailable, nospace, other)."}, []string{"result"}),
	}
	p.writable.Set(1)
	for _, r := range []string{"ok", ingest.ReasonUnavailable, ingest.ReasonNoSpace, ingest.ReasonOther} {
		p.probes.WithLabelValues(r)
	}
	for _, c := range []prometheus.Collector{p.writable, p.nospace, p.probes} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Err returns nil while the store is taken to accept writes, else the answer to give.
func (p *storeProbe) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		return nil
	}
	return p.err
}

// run probes the store until ctx ends.
func (p *storeProbe) run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := p.st.Probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		p.observe(err)
	}
}

// observe takes one probe's result.
func (p *storeProbe) observe(err error) {
	if err != nil && errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, store.ErrUnavailable) {
		// The probe's own deadline, shorter than the store's: the same as a store timeout.
		err = errors.Join(store.ErrUnavailable, err)
	}
	se := ingest.StoreFailure("readiness probe", err)
	p.mu.Lock()
	defer p.mu.Unlock()
	if se == nil {
		p.probes.WithLabelValues("ok").Inc()
		p.nospace.Set(0)
		p.fails, p.oks = 0, p.oks+1
		if p.err != nil && p.oks >= probeOKAfter {
			p.log.Info("store takes writes again: ready", "was", p.err.Reason)
			p.err = nil
			p.writable.Set(1)
		}
		return
	}
	p.probes.WithLabelValues(se.Reason).Inc()
	p.oks, p.fails = 0, p.fails+1
	if se.Reason == ingest.ReasonNoSpace {
		p.nospace.Set(1)
	}
	if p.fails >= probeFailAfter || se.Reason == ingest.ReasonNoSpace {
		if p.err == nil || p.err.Reason != se.Reason {
			p.log.Warn("store cannot take writes: not ready", "reason", se.Reason, "failures", p.fails, "err", se.Err)
		}
		p.err = se
		p.writable.Set(0)
	}
}
