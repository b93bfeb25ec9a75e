package ingest

import (
	"encoding/json"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/internal/protocol"
)

type metrics struct {
	reports     *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	enrollments *prometheus.CounterVec
	storeErrors *prometheus.CounterVec
	titles      prometheus.Counter
	events      prometheus.Counter
	flushes     prometheus.Counter
	cleaned     *prometheus.CounterVec
	refused     *prometheus.CounterVec
}

func newMetrics() *metrics {
	const ns, sub = "onus", "collector"
	m := &metrics{
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "reports_total",
			Help: "Agent reports by kind (full, delta, heartbeat) and result (accepted, need_full, duplicate, rejected, error)."}, []string{"kind", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "report_duration_seconds",
			Help: "Time to apply an agent report, store writes included.", Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12)}, []string{"kind"}),
		enrollments: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "enrollments_total",
			Help: "Agent enrollments by result: ok (new host), rotated (proved with its credential), certificate (proved with a client certificate named after the host ID), approved (an approved pending enrollment claimed), replaced (policy allow), pending (held for an admin), waiting (asked again while held), denied, takeover_refused (policy refuse), refused (wrong enroll secret), rate_limited, invalid, error."}, []string{"result"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "store_errors_total",
			Help: "etcd requests that failed (enrollments and reports answered 503, status flushes kept for the next), by reason: unavailable (no quorum, timeout), nospace (NOSPACE alarm), other."}, []string{"reason"}),
		titles: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "titles_created_total",
			Help: "Software titles this collector added to the fleet catalog."}),
		events: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "software_events_total",
			Help: "Install, remove, upgrade and downgrade events received in accepted reports."}),
		flushes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "status_flushes_total",
			Help: "Batched writes of host liveness and capacity."}),
		cleaned: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "report_text_cleaned_total",
			Help: "Free-text values of agent reports the collector had to clean (control characters escaped, invalid UTF-8 replaced, cut to the limit), by field."}, []string{"field"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "report_refusals_total",
			Help: "Reports of enrolled hosts refused for good (a 4xx other than 401, 408 and 429), those that could not be decoded included, by HTTP status."}, []string{"status"}),
	}
	// Every field from the start, at 0: rate() sees the first cleaned value of a field.
	for _, f := range protocol.TextFields {
		m.cleaned.WithLabelValues(f)
	}
	// The refusals the protocol makes are there from the start: 0, not absent, for rate().
	for _, status := range []string{"400", "403", "413", "415"} {
		m.refused.WithLabelValues(status)
	}
	return m
}

func (m *metrics) register(r prometheus.Registerer) error {
	// Every reason's series exists from the start, so rates and alerts see the first error.
	for _, reason := range []string{ReasonUnavailable, ReasonNoSpace, ReasonOther} {
		m.storeErrors.WithLabelValues(reason)
	}
	for _, c := range []prometheus.Collector{m.reports, m.duration, m.enrollments, m.storeErrors, m.titles, m.events, m.flushes, m.cleaned, m.refused} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
