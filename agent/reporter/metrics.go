package reporter

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/internal/version"
)

type metrics struct {
	reports      *prometheus.CounterVec
	duration     prometheus.Histogram
	enrollments  *prometheus.CounterVec
	passes       *prometheus.CounterVec
	events       *prometheus.CounterVec
	journal      prometheus.Gauge
	dropped      prometheus.Counter
	lastAccepted prometheus.Gauge
	lastRefused  prometheus.Gauge
	invalid      prometheus.Counter
	doubtful     *prometheus.CounterVec
	enrollWait   prometheus.Gauge // 1 while the collector holds the enrollment for an admin
}

// newMetrics makes the reporter's metrics, with the doubtful read counts of each of the
// packageSources at zero from the start.
func newMetrics(reg prometheus.Registerer, packageSources []string) (*metrics, error) {
	const ns, sub = "onus", "agent"
	m := &metrics{
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "reports_total",
			Help: "Reports sent to the collector, by kind (full, delta, heartbeat) and result (accepted, duplicate, need_full, rejected, unauthorized, forbidden, unavailable, error)."},
			[]string{"kind", "result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "report_duration_seconds",
			Help:    "Time from sending a report to the collector's answer (or the failure).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}),
		enrollments: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "enrollments_total",
			Help: "Enrollment attempts, by result: ok, pending (held for an admin's approval), error (network or bad answer) or the HTTP status (401 wrong secret, 403 denied, 409 refused, 429 rate-limited)."}, []string{"result"}),
		enrollWait: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "enrollment_pending",
			Help: "1 while the collector holds this agent's enrollment until an admin approves it (its host ID is enrolled and it has no accepted credential)."}),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "inventory_passes_total",
			Help: "Inventory collections, by what triggered them: startup, watch, heartbeat, full, confirm."}, []string{"trigger"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "software_events_total",
			Help: "Software changes noticed, by type: installed, removed, upgraded, downgraded."}, []string{"type"}),
		journal: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "journal_events",
			Help: "Software events kept for the collector that it has not accepted yet."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "journal_dropped_events_total",
			Help: "Software events dropped because the journal was full while the collector did not accept reports."}),
		lastAccepted: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "last_accepted_timestamp_seconds",
			Help: "When the collector last accepted a report (Unix time)."}),
		lastRefused: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "last_refused_timestamp_seconds",
			Help: "When the collector last refused a report as invalid (Unix time; 0: never since the start)."}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "reports_invalid_total",
			Help: "Reports that failed the collector's validation, checked before sending (they are sent all the same)."}),
		doubtful: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "doubtful_package_reads_total",
			Help: "Package database reads held back until a second read confirmed them (they skipped malformed records or lost many packages at once), by source and result: confirmed (they became events) or discarded (the next read disagreed)."},
			[]string{"source", "result"}),
	}
	for _, name := range packageSources {
		for _, result := range []string{"confirmed", "discarded"} {
			m.doubtful.WithLabelValues(name, result)
		}
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.reports, m.duration, m.enrollments, m.passes, m.events, m.journal, m.dropped, m.lastAccepted, m.lastRefused, m.invalid, m.doubtful, m.enrollWait, version.BuildInfo()} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
