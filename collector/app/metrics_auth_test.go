package app

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/promtest"
)

// TestMetricsAuth runs a collector with --metrics-auth read-token and scrapes it with a real
// Prometheus, once with the read-only token and once without: the first target is up, the
// second down. Over plain HTTP, /metrics answers 401 without the token or with a wrong one,
// and 200 with the read-only or the admin token; a collector with the default, none,
// answers anyone.
func TestMetricsAuth(t *testing.T) {
	const read = "test-read-token-0123456789"
	c := start(t, Options{DataDir: t.TempDir(), ReadToken: read, MetricsAuth: "read-token"})
	for _, tc := range []struct {
		token string
		want  int
	}{{"", 401}, {"wrong-token-0123456789", 401}, {read, 200}, {admin, 200}} {
		req, _ := http.NewRequest("GET", c.url+"/metrics", nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("/metrics with token %q: %d, want %d", tc.token, resp.StatusCode, tc.want)
		}
		if tc.want == 401 && (resp.Header.Get("WWW-Authenticate") == "" || !strings.Contains(string(b), "read-only token")) {
			t.Errorf("/metrics refused without saying why: %q %s", resp.Header.Get("WWW-Authenticate"), b)
		}
		if tc.want == 200 && !strings.Contains(string(b), "onus_collector_index_synced 1") {
			t.Errorf("/metrics with token %q: no onus_collector_index_synced in\n%.300s", tc.token, b)
		}
	}

	tokenFile := filepath.Join(t.TempDir(), "read-token")
	if err := os.WriteFile(tokenFile, []byte(read+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	prom := promtest.StartTargets(t, promtest.RulesFile(t), map[string]promtest.Target{
		"onus-collector": {Addr: c.Addr(), BearerTokenFile: tokenFile},
		"no-token":       {Addr: c.Addr()},
	})
	up := func(job string) string {
		s := prom.Samples(t, `up{job="`+job+`"}`)
		if len(s) != 1 {
			return ""
		}
		return s[0].Value[1].(string)
	}
	promtest.WaitFor(t, "both targets scraped", 20*time.Second, func() bool { return up("onus-collector") != "" && up("no-token") != "" })
	if got := up("onus-collector"); got != "1" {
		t.Errorf(`up{job="onus-collector"} (scraped with the read-only token) = %s, want 1`, got)
	}
	if got := up("no-token"); got != "0" {
		t.Errorf(`up{job="no-token"} (scraped without a token) = %s, want 0`, got)
	}
	promtest.WaitFor(t, "a collector metric in Prometheus", 20*time.Second, func() bool {
		return len(prom.Samples(t, `onus_collector_index_synced{job="onus-collector"}`)) == 1
	})

	// The default: anyone who reaches the listener.
	open := start(t, Options{DataDir: t.TempDir()})
	if resp, err := http.Get(open.url + "/metrics"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/metrics of a collector with the default metrics auth: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	for _, o := range []Options{{MetricsAuth: "read-token"}, {MetricsAuth: "bearer", ReadToken: read}} {
		o.ListenAddress, o.InsecureHTTP, o.DataDir, o.EnrollSecret, o.AdminToken = "127.0.0.1:0", true, t.TempDir(), secret, admin
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), "--metrics-auth") {
			t.Errorf("New with metrics auth %q and read token %q: %v", o.MetricsAuth, o.ReadToken, err)
		}
	}
}
