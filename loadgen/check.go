package loadgen

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/onus-project/onus/internal/model"
)

// HostView is what the collector should hold of one simulated host: the state of its last
// accepted report.
type HostView struct {
	ID       string
	Hostname string
	// Hash is the hash of the held state.
	Hash     string
	Software []model.Package
	// Events counts the software events of the host's accepted reports.
	Events int
}

// Hosts returns what the collector should hold of each host with an accepted report,
// materializing every host's packages: meant for small fleets (tests).
func (g *Generator) Hosts() []HostView {
	var out []HostView
	for _, h := range g.hosts {
		if h.accHash == "" {
			continue
		}
		pkgs, times := h.held()
		st := g.state(h, pkgs, times)
		out = append(out, HostView{ID: h.id, Hostname: h.facts.Hostname, Hash: h.accHash, Software: st.Software, Events: h.accEvents})
	}
	return out
}

// TitleHosts returns, for every title ("source:name"), the number of hosts the collector
// should count for it.
func (g *Generator) TitleHosts() map[string]int {
	counts := make([]int, len(g.pool.titles))
	out := map[string]int{}
	for _, h := range g.hosts {
		if h.accHash == "" {
			continue
		}
		pkgs, _ := h.held()
		for _, p := range pkgs {
			if t := refTitle(p); int(t) < len(counts) {
				counts[t]++
			} else {
				src, name := g.titleOf(h, t)
				out[src+":"+name]++
			}
		}
	}
	for t, n := range counts {
		if n > 0 {
			out[g.pool.Title(t)] = n
		}
	}
	return out
}

// titleOf returns the source and name of title t of host h.
func (g *Generator) titleOf(h *host, t uint32) (source, name string) {
	if int(t) < len(g.pool.titles) {
		return g.pool.titles[t].source, g.pool.titles[t].name
	}
	p := g.pkg(h, pkgRef(t, 0), nil)
	return p.Source, p.Name
}

// Check compares the collector's answers with what the generator sent.
type Check struct {
	HostsExpected  int `json:"hosts_expected"`
	HostsFound     int `json:"hosts_found"`
	TitlesExpected int `json:"titles_expected"` // distinct titles on the hosts, as held
	TitlesChecked  int `json:"titles_checked"`
	TitlesMatched  int `json:"titles_matched"`
	// Mismatches describe each difference.
	Mismatches []string `json:"mismatches,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// OK says whether everything checked matched.
func (c *Check) OK() bool { return c.Error == "" && len(c.Mismatches) == 0 }

func (c *Check) summary() string {
	if c.Error != "" {
		return "failed: " + c.Error
	}
	verdict := "OK"
	if !c.OK() {
		verdict = fmt.Sprintf("%d MISMATCHES", len(c.Mismatches))
	}
	return fmt.Sprintf("%s: hosts %d listed of %d expected; host counts of %d sampled titles, %d matching (%d distinct titles held)",
		verdict, c.HostsFound, c.HostsExpected, c.TitlesChecked, c.TitlesMatched, c.TitlesExpected)
}

// Check lists the collector's hosts and compares them with the hosts whose reports it
// accepted, then compares the host counts of about sample titles (popular ones, rare ones,
// changed ones, hosts' own ones) with the generator's.
func (g *Generator) Check(ctx context.Context, adminToken string, sample int) (*Check, error) {
	c := &Check{}
	want := map[string]bool{}
	for _, h := range g.hosts {
		if h.accHash != "" {
			want[h.id] = true
		}
	}
	c.HostsExpected = len(want)
	got := map[string]bool{}
	after := ""
	for {
		var page struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
			Continue string `json:"continue"`
		}
		q := url.Values{"limit": {"5000"}}
		if after != "" {
			q.Set("continue", after)
		}
		if err := g.getJSON(ctx, "/api/v1/hosts?"+q.Encode(), adminToken, &page); err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			got[it.ID] = true
		}
		if page.Continue == "" {
			break
		}
		after = page.Continue
	}
	c.HostsFound = len(got)
	missing, extra := 0, 0
	for id := range want {
		if !got[id] {
			if missing++; missing <= 5 {
				c.Mismatches = append(c.Mismatches, "host "+id+" not listed by the collector")
			}
		}
	}
	for id := range got {
		if !want[id] {
			if extra++; extra <= 5 {
				c.Mismatches = append(c.Mismatches, "host "+id+" listed by the collector but never accepted")
			}
		}
	}
	if missing > 5 || extra > 5 {
		c.Mismatches = append(c.Mismatches, fmt.Sprintf("%d hosts missing, %d extra in all", missing, extra))
	}

	counts := g.TitleHosts()
	c.TitlesExpected = len(counts)
	for _, t := range g.sampleTitles(counts, sample) {
		src, name, _ := model.SplitTitleKey(t)
		var page struct {
			Items []struct {
				Title string `json:"title"`
				Hosts int    `json:"hosts"`
			} `json:"items"`
		}
		q := url.Values{"source": {src}, "name": {name}, "min_hosts": {"0"}}
		if err := g.getJSON(ctx, "/api/v1/software?"+q.Encode(), adminToken, &page); err != nil {
			return nil, err
		}
		have := 0
		for _, it := range page.Items {
			if it.Title == t {
				have = it.Hosts
			}
		}
		c.TitlesChecked++
		if have == counts[t] {
			c.TitlesMatched++
		} else {
			c.Mismatches = append(c.Mismatches, fmt.Sprintf("title %s: the collector counts %d hosts, the generator %d", t, have, counts[t]))
		}
	}
	return c, nil
}

// sampleTitles picks about n titles to check: across the popularity order of each family,
// titles changed during the run, and hosts' own titles.
func (g *Generator) sampleTitles(counts map[string]int, n int) []string {
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		if !seen[t] && len(out) < n {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, fam := range g.pool.fams {
		for _, rank := range []int{0, 1, fam.core, fam.core + 10, 300, 1000, 3000, 8000, len(fam.ranked) / 2, len(fam.ranked) - 1} {
			if rank < len(fam.ranked) {
				add(g.pool.Title(int(fam.ranked[rank])))
			}
		}
	}
	// Titles changed during the run and hosts' own titles, from hosts spread over the fleet.
	step := max(1, len(g.hosts)/20)
	for i := 0; i < len(g.hosts) && len(out) < n; i += step {
		h := g.hosts[i]
		changed := make([]uint32, 0, len(h.times))
		for t := range h.times {
			changed = append(changed, t)
		}
		slices.Sort(changed)
		for _, t := range changed[:min(2, len(changed))] {
			src, name := g.titleOf(h, t)
			add(model.TitleKey(src, name))
		}
		if last := h.pkgs[len(h.pkgs)-1]; int(refTitle(last)) >= len(g.pool.titles) {
			src, name := g.titleOf(h, refTitle(last))
			add(model.TitleKey(src, name))
		}
	}
	// The rarest titles held.
	var rare []string
	for t, c := range counts {
		if c <= 2 {
			rare = append(rare, t)
		}
	}
	slices.SortFunc(rare, func(a, b string) int { return cmp.Compare(a, b) })
	for _, t := range rare[:min(5, len(rare))] {
		add(t)
	}
	return out
}

// getJSON reads an admin API path into v.
func (g *Generator) getJSON(ctx context.Context, path, token string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := g.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, strconv.Itoa(resp.StatusCode), string(data[:min(len(data), 200)]))
	}
	return json.Unmarshal(data, v)
}
