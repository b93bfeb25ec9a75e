package app

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/inventory"
	"github.com/onus-project/onus/agent/reporter"
	"github.com/onus-project/onus/collector/cli"
	"github.com/onus-project/onus/internal/testutil/bg"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/wait"
)

// TestRevokeHost deletes a host that a real agent reports, with the hosts delete command:
// the agent's next report gets 401, upon which it enrolls again, which the collector refuses
// while the agent's enroll secret is no longer accepted; once it is, the host comes back with
// a new credential.
func TestRevokeHost(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "enroll-secret")
	writeFile(t, file, oldSecret+"\n")
	url, creg := startWithSecretsFile(t, file, 50*time.Millisecond)

	root := fixture.Root(t, "debian12")
	inv, err := inventory.New(inventory.Options{Root: hostfs.Root(root), StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	areg := prometheus.NewRegistry()
	r, err := reporter.New(reporter.Options{CollectorURL: url, InsecureHTTP: true, EnrollSecret: oldSecret, StateDir: t.TempDir(),
		Inventory: inv, HostRoot: hostfs.Root(root), HeartbeatInterval: 200 * time.Millisecond, Debounce: 50 * time.Millisecond,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, HTTPTimeout: 5 * time.Second, Registerer: areg})
	if err != nil {
		t.Fatal(err)
	}
	bg.Go(t, "agent", r.Run)

	var id string
	wait.Until(t, 10*time.Second, "the agent's host listed", func() bool {
		out := hostsCLI(t, url, 0, "list", "--json")
		if i := strings.Index(out, `"id": "`); i >= 0 {
			id = out[i+7 : i+7+strings.IndexByte(out[i+7:], '"')]
		}
		return id != ""
	})
	if out := hostsCLI(t, url, 0, "list"); !strings.Contains(out, id) || !strings.Contains(out, "LAST SEEN") {
		t.Fatalf("hosts list: %s", out)
	}
	enrolled := counter(t, areg, "onus_agent_enrollments_total", "result", "ok")

	// Retire the agent's secret, then revoke the host.
	writeFile(t, file, newSecret+"\n")
	wait.Until(t, 10*time.Second, "the old secret retired", func() bool {
		code, _, _ := tryEnroll(t, url, "probe-host", oldSecret)
		return code == 401
	})
	if out := hostsCLI(t, url, 0, "delete", id); !strings.Contains(out, "deleted host "+id) {
		t.Fatalf("hosts delete: %s", out)
	}
	wait.Until(t, 10*time.Second, "the revoked agent's report refused with 401", func() bool {
		return counter(t, areg, "onus_agent_reports_total", "result", "unauthorized") > 0
	})
	wait.Until(t, 10*time.Second, "its enrollments refused with 401", func() bool {
		return counter(t, areg, "onus_agent_enrollments_total", "result", "401") >= 2
	})
	if code := call(t, "GET", url+"/api/v1/hosts/"+id, admin, nil, false, nil); code != 404 {
		t.Fatalf("revoked host: %d, want 404", code)
	}
	if got := counter(t, creg, "onus_collector_enrollments_total", "result", "refused"); got < 2 {
		t.Fatalf("collector refused %v enrollments, want the agent's retries", got)
	}
	// Deleting it again says so.
	if out := hostsCLI(t, url, 1, "delete", id); !strings.Contains(out, "404") {
		t.Fatalf("second delete: %q", out)
	}

	// With its secret accepted again, the agent enrolls anew and its host comes back.
	writeFile(t, file, newSecret+"\n"+oldSecret+"\n")
	wait.Until(t, 10*time.Second, "the host back after a new enrollment", func() bool {
		return call(t, "GET", url+"/api/v1/hosts/"+id, admin, nil, false, nil) == 200
	})
	if got := counter(t, areg, "onus_agent_enrollments_total", "result", "ok"); got != enrolled+1 {
		t.Fatalf("%v successful enrollments, want %v", got, enrolled+1)
	}
}

// counter returns the value of the counter name with the label in reg.
func counter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// hostsCLI runs onus-collector hosts SUBCOMMAND against url and returns its output.
func hostsCLI(t *testing.T, url string, want int, args ...string) string {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, admin+"\n")
	full := append([]string{"hosts", args[0], "--server", url, "--token-file", tokenFile}, args[1:]...)
	var out, errOut bytes.Buffer
	if code := cli.Run(full, &out, &errOut); code != want {
		t.Fatalf("%q: exit %d, want %d; stderr: %s", args, code, want, errOut.String())
	}
	return out.String() + errOut.String()
}
