package loadgen

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// seriesBudget is the most series the collector's default /metrics may have at any fleet
// size.
const seriesBudget = 5000

// cardinalityHosts is the fleet of TestMetricsCardinalityFleet: ONUS_CARDINALITY_HOSTS, or
// 300 (make cardinality runs it with 100,000).
func cardinalityHosts(t *testing.T) int {
	s := os.Getenv("ONUS_CARDINALITY_HOSTS")
	if s == "" {
		return 300
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("ONUS_CARDINALITY_HOSTS=%q: want a number of hosts", s)
	}
	return n
}

// TestMetricsCardinalityFleet feeds a real collector the load generator's fleet through the
// real report path (enrollment, full reports, one round of heartbeats and churn deltas that
// install, remove and upgrade packages), with the example ownership registry applied, and
// checks the default /metrics: under the series budget, no label value that names a host
// (ID, hostname, FQDN, address), and the unowned new software series capped while the
// uncapped gauge counts them all. It also times the scrape.
func TestMetricsCardinalityFleet(t *testing.T) {
	t.Parallel()
	hosts := cardinalityHosts(t)
	e := startCollector(t)
	yml, err := os.ReadFile(filepath.Join("..", "deploy", "owners.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/api/v1/ownership/apply", strings.NewReader(string(yml)))
	req.Header.Set("Authorization", "Bearer "+e.AdminToken)
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("apply the example registry: %d %s", resp.StatusCode, b)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	// Few packages per host keep a 100,000-host run within minutes here; the label values the
	// metrics could take per host (IDs, names, OS families, owners) do not depend on them. A
	// large pool and the churn make far more unowned new titles than the cap.
	g, err := New(Options{URL: e.URL, InsecureHTTP: true, EnrollSecret: e.EnrollSecret, Embedded: true,
		Hosts: hosts, Concurrency: 32, MinPackages: 10, MaxPackages: 40, Pool: 20000, UniqueFraction: 0.02,
		Services: 20, Churn: 0.5, Rounds: 1, Interval: -1, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := g.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Phases {
		if p.GaveUp != 0 || p.Done != p.Jobs {
			t.Fatalf("load generator %s: %d of %d turns done, %d gave up", p.Name, p.Done, p.Jobs, p.GaveUp)
		}
	}
	t.Logf("%d hosts enrolled and reported in %s", hosts, time.Since(start).Round(time.Second))

	// What would name a host in a label value.
	perHost := map[string]bool{}
	for _, h := range g.hosts {
		perHost[h.id] = true
		perHost[h.facts.Hostname] = true
		perHost[h.facts.FQDN] = true
		for _, i := range h.facts.Interfaces {
			for _, a := range i.Addrs {
				perHost[a] = true
				perHost[strings.Split(a, "/")[0]] = true
			}
		}
	}

	var families map[string]*dtoFamily
	var scrape []time.Duration
	for range 3 {
		begin := time.Now()
		families = scrapeMetrics(t, e.URL+"/metrics")
		scrape = append(scrape, time.Since(begin))
	}
	series, values := 0, map[string]map[string]bool{}
	for name, f := range families {
		series += f.series
		for label, vals := range f.labels {
			for v := range vals {
				if perHost[v] {
					t.Errorf("%s{%s=%q}: a label value names a host", name, label, v)
				}
				if values[label] == nil {
					values[label] = map[string]bool{}
				}
				values[label][v] = true
			}
		}
	}
	var per []string
	for label, vals := range values {
		per = append(per, label+"="+strconv.Itoa(len(vals)))
	}
	t.Logf("%d hosts: %d series in %d families; distinct values per label: %s; scrape %v", hosts, series, len(families), strings.Join(per, " "), scrape)
	if series >= seriesBudget {
		t.Errorf("%d series at %d hosts, want under %d", series, hosts, seriesBudget)
	}
	if len(values["os_family"]) > 16 {
		t.Errorf("%d os_family values", len(values["os_family"]))
	}

	info := families["onus_software_unowned_new_info"]
	total := families["onus_software_unowned_new_titles"]
	if info == nil || total == nil {
		t.Fatalf("no unowned new software metrics after churn: info %v, titles %v", info, total)
	}
	if want := min(int(total.value), 100); info.series != want {
		t.Errorf("onus_software_unowned_new_info: %d series, want %d (%v unowned new titles, cap 100)", info.series, want, total.value)
	}
	if hostsGauge := families["onus_assets"]; hostsGauge == nil {
		t.Error("no onus_assets")
	}
}

// dtoFamily is what the test keeps of a metric family.
type dtoFamily struct {
	series int
	labels map[string]map[string]bool
	// value is the last sample's value.
	value float64
}

func scrapeMetrics(t *testing.T, url string) map[string]*dtoFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]*dtoFamily{}
	for name, mf := range mfs {
		f := &dtoFamily{labels: map[string]map[string]bool{}}
		for _, m := range mf.GetMetric() {
			// A histogram or summary is one series per bucket or quantile, plus sum and count.
			switch {
			case m.GetHistogram() != nil:
				f.series += len(m.GetHistogram().GetBucket()) + 3
			case m.GetSummary() != nil:
				f.series += len(m.GetSummary().GetQuantile()) + 2
			default:
				f.series++
			}
			for _, l := range m.GetLabel() {
				if f.labels[l.GetName()] == nil {
					f.labels[l.GetName()] = map[string]bool{}
				}
				f.labels[l.GetName()][l.GetValue()] = true
			}
			switch {
			case m.GetGauge() != nil:
				f.value = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				f.value = m.GetCounter().GetValue()
			case m.GetUntyped() != nil:
				f.value = m.GetUntyped().GetValue()
			}
		}
		out[name] = f
	}
	return out
}
