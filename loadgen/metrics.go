package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// sample is one series of a Prometheus text exposition.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

type metricSet []sample

// parseMetrics reads the Prometheus text format: enough of it for the collector's /metrics
// (no exemplars, no OpenMetrics), skipping lines it cannot read.
func parseMetrics(r io.Reader) (metricSet, error) {
	var out metricSet
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, ok := parseSample(line)
		if ok {
			out = append(out, s)
		}
	}
	return out, sc.Err()
}

func parseSample(line string) (sample, bool) {
	s := sample{}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, false
	}
	s.name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		s.labels = map[string]string{}
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, " ,")
			if rest == "" {
				return s, false
			}
			if rest[0] == '}' {
				rest = rest[1:]
				break
			}
			eq := strings.IndexByte(rest, '=')
			if eq <= 0 || len(rest) < eq+2 || rest[eq+1] != '"' {
				return s, false
			}
			key := strings.TrimSpace(rest[:eq])
			rest = rest[eq+2:]
			var val strings.Builder
			j := 0
			for ; j < len(rest) && rest[j] != '"'; j++ {
				if rest[j] == '\\' && j+1 < len(rest) {
					j++
					switch rest[j] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(rest[j])
					}
					continue
				}
				val.WriteByte(rest[j])
			}
			if j == len(rest) {
				return s, false
			}
			s.labels[key] = val.String()
			rest = rest[j+1:]
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return s, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, false
	}
	s.value = v
	return s, true
}

// sum adds the series of name whose labels include the given pairs (key, value, ...).
func (m metricSet) sum(name string, match ...string) (float64, bool) {
	total, found := 0.0, false
	for _, s := range m {
		if s.name != name || !s.matches(match) {
			continue
		}
		total += s.value
		found = true
	}
	return total, found
}

func (m metricSet) get(name string, match ...string) float64 {
	v, _ := m.sum(name, match...)
	return v
}

// by sums the series of name by the values of label.
func (m metricSet) by(name string, label ...string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range m {
		if s.name != name {
			continue
		}
		var key []string
		for _, l := range label {
			key = append(key, s.labels[l])
		}
		out[strings.Join(key, "/")] += s.value
	}
	return out
}

func (s sample) matches(pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		if s.labels[pairs[i]] != pairs[i+1] {
			return false
		}
	}
	return true
}

// fetchMetrics reads url (a collector's /metrics).
func fetchMetrics(ctx context.Context, client *http.Client, url string) (metricSet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseMetrics(io.LimitReader(resp.Body, 64<<20))
}

// CollectorDelta is what the collector's /metrics counted during one phase.
type CollectorDelta struct {
	// CPUSeconds is process_cpu_seconds_total: with a collector in this process, the
	// generator's CPU is in it too (see the phase's BuildSeconds).
	CPUSeconds float64 `json:"cpu_seconds"`
	// etcd's MVCC operations (a transaction's puts count one each) and disk work.
	EtcdPuts       float64 `json:"etcd_puts"`
	EtcdTxns       float64 `json:"etcd_txns"`
	EtcdRanges     float64 `json:"etcd_ranges"`
	EtcdDeletes    float64 `json:"etcd_deletes"`
	WALFsyncs      float64 `json:"etcd_wal_fsyncs"`
	WALBytes       float64 `json:"etcd_wal_bytes"`
	BackendCommits float64 `json:"etcd_backend_commits"`
	// StoreOps counts the collector's etcd writes by operation, StoreOpSeconds their time.
	StoreOps       map[string]float64 `json:"store_ops"`
	StoreOpSeconds map[string]float64 `json:"store_op_seconds"`
	// Reports counts the collector's reports by "kind/result".
	Reports       map[string]float64 `json:"reports"`
	ReportSeconds map[string]float64 `json:"report_seconds"`
	TitlesCreated float64            `json:"titles_created"`
	Conflicts     float64            `json:"store_conflicts"`
	StoreErrors   float64            `json:"store_errors"`
	WatchEvents   float64            `json:"watch_events"`
	Relists       float64            `json:"index_relists"`
	// DBBytesAfter is etcd's database size at the end of the phase.
	DBBytesAfter      float64 `json:"etcd_db_bytes_after"`
	DBInUseBytesAfter float64 `json:"etcd_db_in_use_bytes_after"`
	RSSBytesAfter     float64 `json:"rss_bytes_after"`
}

func collectorDelta(before, after metricSet) *CollectorDelta {
	d := func(name string, match ...string) float64 {
		return after.get(name, match...) - before.get(name, match...)
	}
	dm := func(name string, label ...string) map[string]float64 {
		a, b := after.by(name, label...), before.by(name, label...)
		out := map[string]float64{}
		for k, v := range a {
			if v-b[k] != 0 {
				out[k] = v - b[k]
			}
		}
		return out
	}
	return &CollectorDelta{
		CPUSeconds:        d("process_cpu_seconds_total"),
		EtcdPuts:          d("etcd_mvcc_put_total"),
		EtcdTxns:          d("etcd_mvcc_txn_total"),
		EtcdRanges:        d("etcd_mvcc_range_total"),
		EtcdDeletes:       d("etcd_mvcc_delete_total"),
		WALFsyncs:         d("etcd_disk_wal_fsync_duration_seconds_count"),
		WALBytes:          d("etcd_disk_wal_write_bytes_total"),
		BackendCommits:    d("etcd_disk_backend_commit_duration_seconds_count"),
		StoreOps:          dm("onus_collector_store_operation_duration_seconds_count", "op"),
		StoreOpSeconds:    dm("onus_collector_store_operation_duration_seconds_sum", "op"),
		Reports:           dm("onus_collector_reports_total", "kind", "result"),
		ReportSeconds:     dm("onus_collector_report_duration_seconds_sum", "kind"),
		TitlesCreated:     d("onus_collector_titles_created_total"),
		Conflicts:         d("onus_collector_store_conflicts_total"),
		StoreErrors:       d("onus_collector_store_errors_total"),
		WatchEvents:       d("onus_collector_watch_events_total"),
		Relists:           d("onus_collector_index_relists_total"),
		DBBytesAfter:      after.get("etcd_mvcc_db_total_size_in_bytes"),
		DBInUseBytesAfter: after.get("etcd_mvcc_db_total_size_in_use_in_bytes"),
		RSSBytesAfter:     after.get("process_resident_memory_bytes"),
	}
}

func (d *CollectorDelta) writeText(w io.Writer, elapsed float64) {
	rate := func(v float64) string {
		if elapsed <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f/s", v/elapsed)
	}
	fmt.Fprintf(w, "   collector: CPU %.1fs (%.2f cores), etcd puts %.0f (%s), txns %.0f, ranges %.0f, WAL fsyncs %.0f (%s), WAL %s written, backend commits %.0f\n",
		d.CPUSeconds, d.CPUSeconds/math.Max(elapsed, 1e-9), d.EtcdPuts, rate(d.EtcdPuts), d.EtcdTxns, d.EtcdRanges, d.WALFsyncs, rate(d.WALFsyncs),
		bytesText(int64(d.WALBytes)), d.BackendCommits)
	var ops []string
	for _, op := range slices.Sorted(maps.Keys(d.StoreOps)) {
		n := d.StoreOps[op]
		ops = append(ops, fmt.Sprintf("%s %.0f (%s, mean %s)", op, n, rate(n), secs(d.StoreOpSeconds[op]/math.Max(n, 1))))
	}
	if len(ops) > 0 {
		fmt.Fprintf(w, "   collector store writes: %s\n", strings.Join(ops, ", "))
	}
	var reps []string
	for _, k := range slices.Sorted(maps.Keys(d.Reports)) {
		reps = append(reps, fmt.Sprintf("%s %.0f", k, d.Reports[k]))
	}
	if len(reps) > 0 {
		fmt.Fprintf(w, "   collector reports: %s\n", strings.Join(reps, ", "))
	}
	var times []string
	for _, k := range slices.Sorted(maps.Keys(d.ReportSeconds)) {
		var n float64
		for key, v := range d.Reports {
			if strings.HasPrefix(key, k+"/") {
				n += v
			}
		}
		times = append(times, fmt.Sprintf("%s %s", k, secs(d.ReportSeconds[k]/math.Max(n, 1))))
	}
	if len(times) > 0 {
		fmt.Fprintf(w, "   collector time per report (mean, in the handler): %s\n", strings.Join(times, ", "))
	}
	fmt.Fprintf(w, "   titles created %.0f, CAS conflicts %.0f, store errors %.0f, watch events %.0f, relists %.0f; etcd db %s (in use %s)\n",
		d.TitlesCreated, d.Conflicts, d.StoreErrors, d.WatchEvents, d.Relists, bytesText(int64(d.DBBytesAfter)), bytesText(int64(d.DBInUseBytesAfter)))
}

// CollectorFigures are the collector's gauges at the end of a run.
type CollectorFigures struct {
	Hosts            float64 `json:"hosts"`
	Agents           float64 `json:"agents"`
	Titles           float64 `json:"titles"`
	RSSBytes         float64 `json:"rss_bytes"`
	HeapInuseBytes   float64 `json:"heap_inuse_bytes"`
	EtcdDBBytes      float64 `json:"etcd_db_bytes"`
	EtcdDBInUseBytes float64 `json:"etcd_db_in_use_bytes"`
	// SharedProcess is set when the collector runs in the generator's process: RSS and
	// heap are then those of both.
	SharedProcess bool   `json:"shared_process"`
	Error         string `json:"error,omitempty"`
}

func collectorFigures(m metricSet) *CollectorFigures {
	return &CollectorFigures{
		Hosts:            m.get("onus_collector_index_hosts"),
		Agents:           m.get("onus_collector_index_agents"),
		Titles:           m.get("onus_collector_index_titles"),
		RSSBytes:         m.get("process_resident_memory_bytes"),
		HeapInuseBytes:   m.get("go_memstats_heap_inuse_bytes"),
		EtcdDBBytes:      m.get("etcd_mvcc_db_total_size_in_bytes"),
		EtcdDBInUseBytes: m.get("etcd_mvcc_db_total_size_in_use_in_bytes"),
	}
}
