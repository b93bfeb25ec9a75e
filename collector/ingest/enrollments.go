package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Enrollments returns the enrollments held for a decision, oldest first.
func (g *Ingest) Enrollments(ctx context.Context) ([]store.Enrollment, error) {
	out, err := g.enrollments(ctx)
	if err != nil {
		return nil, g.storeErr("read enrollments", err)
	}
	return out, nil
}

func (g *Ingest) enrollments(ctx context.Context) ([]store.Enrollment, error) {
	kvs, err := g.st.ListKind(ctx, store.KindEnrollment, "", 10*MaxPendingEnrollments)
	if err != nil {
		return nil, err
	}
	out := make([]store.Enrollment, 0, len(kvs))
	pending := 0
	for _, kv := range kvs {
		var e store.Enrollment
		if err := json.Unmarshal(kv.Value, &e); err != nil {
			g.log.Warn("unreadable enrollment key skipped", "key", kv.Key, "err", err)
			continue
		}
		if e.State == store.EnrollmentPending {
			pending++
		}
		out = append(out, e)
	}
	g.setPending(float64(pending))
	slices.SortFunc(out, func(a, b store.Enrollment) int {
		if c := a.RequestedAt.Compare(b.RequestedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// ErrNoEnrollment means no enrollment has the ID.
var ErrNoEnrollment = errors.New("no such enrollment")

// Decide approves or denies an enrollment; by is the remote address of the admin's request.
// A decision can be changed as long as the agent has not claimed an approval.
func (g *Ingest) Decide(ctx context.Context, id string, approve bool, by string) (store.Enrollment, error) {
	state := store.EnrollmentDenied
	if approve {
		state = store.EnrollmentApproved
	}
	kvs, err := g.st.ListKind(ctx, store.KindEnrollment, "", 10*MaxPendingEnrollments)
	if err != nil {
		return store.Enrollment{}, g.storeErr("read enrollments", err)
	}
	var start *store.KV
	for i := range kvs {
		var e store.Enrollment
		if json.Unmarshal(kvs[i].Value, &e) == nil && e.ID == id {
			start = &kvs[i]
			break
		}
	}
	gone := protocol.Errorf(http.StatusNotFound,
		"no enrollment %q waits for a decision (claimed already, expired after %s, or never made): see onus-collector enrollments list", id, store.PendingTTL)
	if start == nil {
		return store.Enrollment{}, gone
	}
	var e store.Enrollment
	var was string
	_, err = g.st.Update(ctx, "decide_enrollment", []store.KV{*start}, func(cur []store.KV) ([]store.Write, error) {
		e = store.Enrollment{}
		if cur[0].Value == nil || json.Unmarshal(cur[0].Value, &e) != nil || e.ID != id {
			return nil, gone
		}
		was = e.State
		e.State, e.DecidedAt, e.DecidedBy = state, g.now().UTC(), by
		val, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		return []store.Write{{Key: cur[0].Key, Value: val, KeepLease: true}}, nil
	})
	if errors.Is(err, gone) {
		return store.Enrollment{}, gone
	}
	if err != nil {
		return store.Enrollment{}, g.storeErr("write enrollment", err)
	}
	if was == store.EnrollmentPending {
		g.addPending(-1)
	}
	g.log.Warn("enrollment decided by an admin", "enrollment_id", id, "host_id", e.HostID, "state", state,
		"requested_by", e.Remote, "hostname", e.Hostname, "admin", by)
	return e, nil
}

// pendingGauge serves onus_collector_enrollments_pending, read from the store at each
// scrape (the keys are few and bounded), or the last value when the store does not answer.
type pendingGauge struct{ g *Ingest }

var pendingDesc = prometheus.NewDesc("onus_collector_enrollments_pending",
	"Enrollments of already enrolled host IDs that wait for an admin's approval or denial (onus-collector enrollments list).", nil, nil)

func (p pendingGauge) Describe(ch chan<- *prometheus.Desc) { ch <- pendingDesc }

func (p pendingGauge) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// A store that does not answer is already logged and counted by the requests that
	// fail: the scrape keeps quiet and serves the last count.
	if _, err := p.g.enrollments(ctx); err != nil {
		p.g.log.Debug("pending enrollments not counted", "err", err)
	}
	p.g.enr.mu.Lock()
	v := p.g.enr.pending
	p.g.enr.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, v)
}

func (g *Ingest) setPending(v float64) {
	g.enr.mu.Lock()
	g.enr.pending = v
	g.enr.mu.Unlock()
}

func (g *Ingest) addPending(d float64) {
	g.enr.mu.Lock()
	g.enr.pending = max(0, g.enr.pending+d)
	g.enr.mu.Unlock()
}
