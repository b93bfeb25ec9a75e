package chaos

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/onus-project/onus/internal/testutil/fixture"
)

// agent is one onus-agent run process reporting a copy of a fixture host root.
type agent struct {
	*proc
	id         string
	root       string
	metricsURL string
}

// newAgent copies the debian12 fixture root, gives it its own machine-id and hostname, and
// prepares an agent reporting it to collectorURL.
func newAgent(t *testing.T, bin, name, id, collectorURL string) *agent {
	t.Helper()
	root := fixture.CopyRoot(t, fixture.Root(t, "debian12"))
	for file, content := range map[string]string{"etc/machine-id": id + "\n", "etc/hostname": name + "\n"} {
		if err := os.WriteFile(filepath.Join(root, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	maddr := freeAddr(t)
	p := newProc(t, name, filepath.Join(bin, "onus-agent"), "run", "--collector-url", collectorURL, "--insecure-http",
		"--enroll-secret-file", writeSecret(t, dir, "enroll-secret", enrollSecret), "--state-dir", filepath.Join(dir, "state"),
		"--host-root", root, "--metrics-address", maddr, "--log-level", "warn")
	return &agent{proc: p, id: id, root: root, metricsURL: "http://" + maddr + "/metrics"}
}

// metric reads one of the agent's metrics (summed over the labels given).
func (a *agent) metric(name string, labels ...string) (float64, bool) {
	ans := do("GET", a.metricsURL, "", nil)
	if ans.err != nil || ans.status != http.StatusOK {
		return 0, false
	}
	return metric(ans.body, name, labels...)
}
