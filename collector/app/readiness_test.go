package app

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/onus-project/onus/internal/store"
)

// TestStoreProbeHysteresis feeds the readiness probe a sequence of results: one slow or
// failed probe does not take the collector out of the load balancer, three in a row do, two
// successes bring it back, and NOSPACE takes it out at once.
func TestStoreProbeHysteresis(t *testing.T) {
	reg := prometheus.NewRegistry()
	p, err := newStoreProbe(nil, 0, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	timeout := fmt.Errorf("%w: %w", store.ErrUnavailable, context.DeadlineExceeded)
	noLeader := fmt.Errorf("%w: %w", store.ErrUnavailable, rpctypes.ErrNoLeader)
	noSpace := fmt.Errorf("%w: %w", store.ErrNoSpace, rpctypes.ErrNoSpace)
	steps := []struct {
		err      error
		writable bool
	}{
		{nil, true},
		{timeout, true}, // one slow request
		{nil, true},
		{timeout, true},
		{noLeader, true},
		{context.DeadlineExceeded, false}, // the probe's own deadline: the third failure
		{nil, false},
		{noLeader, false}, // a success, then a failure: not yet back
		{nil, false},
		{nil, true},
		{noSpace, false}, // at once
		{nil, false},
		{nil, true},
	}
	for i, s := range steps {
		p.observe(s.err)
		if got := p.Err() == nil; got != s.writable {
			t.Fatalf("step %d (%v): writable %v, want %v", i, s.err, got, s.writable)
		}
		want := 0.0
		if s.writable {
			want = 1
		}
		if v := gauge(t, reg, "onus_collector_store_writable"); v != want {
			t.Fatalf("step %d: onus_collector_store_writable %v", i, v)
		}
	}
	if v := counter(t, reg, "onus_collector_store_probes_total", "result", "nospace"); v != 1 {
		t.Errorf("nospace probes: %v", v)
	}
}
