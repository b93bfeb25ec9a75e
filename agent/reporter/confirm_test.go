package reporter

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// TestConfirmEverySource drives the confirmation of doubtful reads for each package source:
// a read that loses half the packages is held back, a second read that agrees confirms it
// once Settle has passed, and one that disagrees discards it.
func TestConfirmEverySource(t *testing.T) {
	names := testSources.packageSources()
	if len(names) != 4 {
		t.Fatalf("package sources %v", names)
	}
	for _, name := range names {
		f := testSources[name].PackageFormat
		t.Run(name, func(t *testing.T) {
			m, err := newMetrics(nil, names)
			if err != nil {
				t.Fatal(err)
			}
			r := &Reporter{opts: Options{Settle: 50 * time.Millisecond}, log: slog.New(slog.DiscardHandler), m: m, held: map[string]*heldRead{}, srcs: testSources}
			var all []model.Package
			for i := range 20 {
				all = append(all, pkg(f, fmt.Sprintf("p%02d", i), "1"))
			}
			state := func(ps []model.Package, skipped int) protocol.State {
				return protocol.State{Software: slices.Clone(ps),
					Sources: []model.SourceStatus{{Name: name, State: "ok", Items: len(ps), Skipped: skipped}}}
			}
			prev := state(all, 0)
			r.prev = &prev
			count := func(result string) float64 { return testutil.ToFloat64(m.doubtful.WithLabelValues(name, result)) }

			// Half gone: held back, the previous packages stay.
			st := state(all[:10], 0)
			if !r.confirm(&st) || len(st.Software) != 20 || r.held[name] == nil {
				t.Fatalf("half the packages gone: %d packages kept, held %v", len(st.Software), r.held[name] != nil)
			}
			// The same read again, too soon: still held.
			st = state(all[:10], 0)
			if r.confirm(&st); len(st.Software) != 20 {
				t.Fatalf("confirmed before Settle: %d packages", len(st.Software))
			}
			// A different read: the held one is discarded, the new one judged on its own.
			st = state(all, 0)
			if r.confirm(&st) || len(st.Software) != 20 || r.held[name] != nil || count("discarded") != 1 {
				t.Fatalf("restored database: held %v, discarded %v", r.held[name] != nil, count("discarded"))
			}
			// A read that skipped a malformed record and lost one package: held back.
			st = state(all[1:], 1)
			if !r.confirm(&st) || len(st.Software) != 20 || st.Sources[0].Skipped != 0 {
				t.Fatalf("malformed record: %d packages, status %+v", len(st.Software), st.Sources[0])
			}
			// Confirmed by the same read after Settle.
			time.Sleep(60 * time.Millisecond)
			st = state(all[1:], 1)
			if r.confirm(&st) || len(st.Software) != 19 || r.held[name] != nil || count("confirmed") != 1 {
				t.Fatalf("after Settle: %d packages, held %v, confirmed %v", len(st.Software), r.held[name] != nil, count("confirmed"))
			}
			// Small changes are never held: five packages gone, or one in ten.
			if d := doubtful(all, all[5:], 0, 0); d != "" {
				t.Errorf("five of 20 gone: %s", d)
			}
			if d := doubtful(all, all[6:], 0, 0); d == "" {
				t.Error("six of 20 gone: not doubtful")
			}
			if d := doubtful(all[:10], all[:10], 0, 3); d != "" {
				t.Errorf("unchanged packages with malformed records: %s", d)
			}
		})
	}
}
