// Package inventory runs the inventory sources of a host and merges what they find into one
// model.Inventory, recording each source's duration and outcome as metrics.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
)

// Options configure an Inventory. The zero value reads "/" with the platform's sources.
type Options struct {
	// Root is the host root ("/" by default): every source reads under it.
	Root hostfs.Root
	// StateDir is the agent's state directory (for a generated host ID).
	StateDir string
	// Labels are the host's labels from the agent's configuration.
	Labels map[string]string
	// Sources replaces the platform's list of sources (see Sources); nil keeps it.
	Sources []source.Source
	// Only, when not empty, keeps only the sources with these names.
	Only []string
	// Registerer receives the per-source metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Logger receives a warning per failing source; nil discards.
	Logger *slog.Logger
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Inventory runs a fixed list of sources.
type Inventory struct {
	sources []source.Source
	log     *slog.Logger
	now     func() time.Time

	duration *prometheus.GaugeVec
	success  *prometheus.GaugeVec
	present  *prometheus.GaugeVec
	items    *prometheus.GaugeVec
	skipped  *prometheus.CounterVec
}

// New validates opts and returns an Inventory. It starts nothing.
func New(opts Options) (*Inventory, error) {
	if opts.Root == "" {
		opts.Root = "/"
	}
	if _, err := opts.Root.Stat("/"); err != nil {
		return nil, fmt.Errorf("host root: %w", err)
	}
	srcs := opts.Sources
	if srcs == nil {
		srcs = Sources(SourceOptions{Root: opts.Root, StateDir: opts.StateDir, Labels: opts.Labels, Logger: opts.Logger})
	}
	if len(opts.Only) > 0 {
		var kept []source.Source
		for _, name := range opts.Only {
			i := slices.IndexFunc(srcs, func(s source.Source) bool { return s.Name() == name })
			if i < 0 {
				return nil, fmt.Errorf("unknown source %q (have %s)", name, names(srcs))
			}
			kept = append(kept, srcs[i])
		}
		srcs = kept
	}
	inv := &Inventory{sources: srcs, log: opts.Logger, now: opts.Now}
	if inv.log == nil {
		inv.log = slog.New(slog.DiscardHandler)
	}
	if inv.now == nil {
		inv.now = time.Now
	}
	labels := []string{"source"}
	inv.duration = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "onus", Subsystem: "agent", Name: "source_duration_seconds",
		Help: "Duration of the last collection of an inventory source."}, labels)
	inv.success = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "onus", Subsystem: "agent", Name: "source_success",
		Help: "Whether the last collection of an inventory source succeeded (1), or failed (0). A source not present on the host counts as succeeded."}, labels)
	inv.present = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "onus", Subsystem: "agent", Name: "source_present",
		Help: "Whether the database or subsystem an inventory source reads exists on this host."}, labels)
	inv.items = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "onus", Subsystem: "agent", Name: "source_items",
		Help: "Records returned by the last collection of an inventory source."}, labels)
	inv.skipped = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "onus", Subsystem: "agent", Name: "source_skipped_records_total",
		Help: "Malformed records skipped by an inventory source."}, labels)
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{inv.duration, inv.success, inv.present, inv.items, inv.skipped} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return inv, nil
}

// Sources returns the names of the sources this Inventory runs, in order.
func (inv *Inventory) Sources() []string {
	out := make([]string, len(inv.sources))
	for i, s := range inv.sources {
		out[i] = s.Name()
	}
	return out
}

// Traits returns what each source this Inventory runs says of itself (see source.TraitsOf),
// in order: the agent learns from them which sources read package databases, what a failed
// read keeps and which locks to wait for, instead of keeping lists of sources.
func (inv *Inventory) Traits() []source.Traits {
	out := make([]source.Traits, len(inv.sources))
	for i, s := range inv.sources {
		out[i] = source.TraitsOf(s)
	}
	return out
}

// WatchPaths returns, per source name, the paths whose change means the source must be read
// again.
func (inv *Inventory) WatchPaths() map[string][]string {
	out := map[string][]string{}
	for _, s := range inv.sources {
		if w, ok := s.(source.Watcher); ok {
			out[s.Name()] = w.WatchPaths()
		}
	}
	return out
}

// Collect runs every source once and merges the results. A failing source is reported in
// Sources (and logged) while the others are still collected; Collect itself fails only when
// ctx ends.
func (inv *Inventory) Collect(ctx context.Context) (*model.Inventory, error) {
	out := &model.Inventory{CollectedAt: inv.now().UTC().Truncate(time.Millisecond)}
	for _, s := range inv.sources {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		st, res := inv.run(ctx, s)
		out.Sources = append(out.Sources, st)
		if res.Host != nil {
			out.Host = *res.Host
		}
		out.Software = append(out.Software, res.Software...)
		out.Services = append(out.Services, res.Services...)
		out.Listeners = append(out.Listeners, res.Listeners...)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	Sort(out)
	return out, nil
}

func (inv *Inventory) run(ctx context.Context, s source.Source) (model.SourceStatus, source.Result) {
	name := s.Name()
	start := time.Now()
	res, err := s.Collect(ctx)
	d := time.Since(start)
	st := model.SourceStatus{Name: name, State: "ok", Items: res.Items(), Skipped: res.Skipped, Duration: d.Seconds()}
	present, success := 1.0, 1.0
	switch {
	case err == nil:
	case errors.Is(err, source.ErrNotPresent):
		st.State, present = "not_present", 0
		res = source.Result{}
		st.Items = 0
	case ctx.Err() != nil:
		st.State, st.Error, success = "error", ctx.Err().Error(), 0
	default:
		st.State, st.Error, success = "error", err.Error(), 0
		inv.log.Warn("inventory source failed", "source", name, "err", err, "items", st.Items)
	}
	if res.Skipped > 0 {
		inv.log.Warn("inventory source skipped malformed records", "source", name, "skipped", res.Skipped)
	}
	inv.duration.WithLabelValues(name).Set(d.Seconds())
	inv.success.WithLabelValues(name).Set(success)
	inv.present.WithLabelValues(name).Set(present)
	inv.items.WithLabelValues(name).Set(float64(st.Items))
	inv.skipped.WithLabelValues(name).Add(float64(res.Skipped))
	return st, res
}

// Sort puts an inventory's lists in their canonical order (see model.Sort).
func Sort(inv *model.Inventory) { model.Sort(inv) }

func names(srcs []source.Source) string {
	var b []byte
	for i, s := range srcs {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, s.Name()...)
	}
	return string(b)
}
