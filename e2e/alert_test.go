package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/promtest"
	"github.com/onus-project/onus/internal/testutil/fixture"
)

// alertRegistry owns the fixture host and its service on port 22; software stays unowned,
// so a package installed after enrollment is unowned new software.
const alertRegistry = `owners:
  - {id: platform, name: Platform team}
rules:
  - {id: all-hosts, kind: host, match: {all: true}, owner: platform}
`

const alertOwnedRule = `  - {id: shadow-tool, kind: software, match: {name: shadow-tool}, owner: platform}
`

// firingAlert is an alert as /api/v1/alerts lists it.
type firingAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

func alerts(t *testing.T, prom *promtest.Server) []firingAlert {
	t.Helper()
	resp, err := http.Get(prom.URL + "/api/v1/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			Alerts []firingAlert `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Data.Alerts
}

func applyOwners(t *testing.T, url, yml string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/api/v1/ownership/apply", strings.NewReader(yml))
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 {
		t.Fatalf("apply: %d %s", resp.StatusCode, b)
	}
}

// TestAlertFiresAndResolves runs the whole chain with real parts: an agent on a Debian
// fixture root, a collector with embedded etcd, and Prometheus (Debian's package) scraping it
// every second with the shipped rules. A package installed the way dpkg does becomes unowned
// new software in the collector's metrics, Prometheus scrapes it, and
// OnusUnownedSoftwareInstalled fires after its for: 1m naming the package; an owner rule
// applied through the API then resolves it. It takes a little over a minute.
func TestAlertFiresAndResolves(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the alert's for: 1m")
	}
	t.Parallel()
	root := fixture.CopyRoot(t, fixture.Root(t, "debian12"))
	col := startCollector(t, t.TempDir(), "")
	applyOwners(t, col.URL(), alertRegistry)
	startAgent(t, root, t.TempDir(), col.URL())
	waitHost(t, col.URL(), hostID, 20*time.Second, "first report", func(d *hostDetail) bool { return len(d.Software) > 0 })
	prom := promtest.Start(t, promtest.RulesFile(t), map[string]string{"onus-collector": col.Addr()})
	promtest.WaitFor(t, "first scrape", 20*time.Second, func() bool {
		return len(prom.Samples(t, `onus_assets{kind="host"} == 1`)) == 1
	})
	// The fixture's packages were discovered by the first full report, not installed since
	// enrollment: nothing is unowned new software yet.
	if s := prom.Samples(t, `onus_software_unowned_new_info`); len(s) != 0 {
		t.Fatalf("unowned new software before any install: %v", s)
	}

	const title = "deb:shadow-tool"
	const info = `onus_software_unowned_new_info{title="` + title + `"}`
	installed := time.Now()
	fixture.DpkgInstall(t, root, "shadow-tool", "1.0-1", installed.Add(-time.Second).UTC().Truncate(time.Second))
	toCollector := promtest.WaitFor(t, "collector metric", 15*time.Second, func() bool {
		resp, err := http.Get(col.URL() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return bytes.Contains(b, []byte(`onus_software_unowned_new_info{`)) && bytes.Contains(b, []byte(`title="`+title+`"`))
	})
	toProm := toCollector + promtest.WaitFor(t, "series in Prometheus", 15*time.Second, func() bool { return len(prom.Samples(t, info)) == 1 })
	const alert = `ALERTS{alertname="OnusUnownedSoftwareInstalled",title="` + title + `"`
	toPending := toProm + promtest.WaitFor(t, "alert pending", 15*time.Second, func() bool {
		return len(prom.Samples(t, alert+`,alertstate="pending"}`)) == 1
	})
	toFiring := toPending + promtest.WaitFor(t, "alert firing", 90*time.Second, func() bool {
		return len(prom.Samples(t, alert+`,alertstate="firing"}`)) == 1
	})
	t.Logf("dpkg install → collector metric %.3fs → Prometheus %.3fs → alert pending %.3fs → firing %.3fs",
		toCollector.Seconds(), toProm.Seconds(), toPending.Seconds(), toFiring.Seconds())

	// The firing alert names the package, and its commands are ones an operator can run.
	var found bool
	for _, a := range alerts(t, prom) {
		if a.Labels["alertname"] != "OnusUnownedSoftwareInstalled" || a.State != "firing" {
			continue
		}
		found = true
		if a.Labels["title"] != title || a.Labels["source"] != "deb" || a.Labels["severity"] == "" {
			t.Errorf("alert labels: %v", a.Labels)
		}
		if !strings.Contains(a.Annotations["summary"], "shadow-tool") {
			t.Errorf("summary does not name the package: %q", a.Annotations["summary"])
		}
		if d := a.Annotations["description"]; !strings.Contains(d, "onus-collector why software:"+title+"`") {
			t.Errorf("description's why command is not for %s: %q", title, d)
		}
	}
	if !found {
		t.Fatalf("OnusUnownedSoftwareInstalled not in /api/v1/alerts: %+v", alerts(t, prom))
	}

	// An owner rule for the package resolves the alert.
	owned := time.Now()
	applyOwners(t, col.URL(), alertRegistry+alertOwnedRule)
	gone := promtest.WaitFor(t, "series gone from Prometheus", 15*time.Second, func() bool { return len(prom.Samples(t, info)) == 0 })
	promtest.WaitFor(t, "alert resolved", 15*time.Second, func() bool { return len(prom.Samples(t, alert+"}")) == 0 })
	t.Logf("owner rule applied → series gone from Prometheus %.3fs → alert resolved %.3fs", gone.Seconds(), time.Since(owned).Seconds())
	for _, a := range alerts(t, prom) {
		if a.Labels["alertname"] == "OnusUnownedSoftwareInstalled" {
			t.Errorf("still listed after the owner rule: %+v", a)
		}
	}
}
