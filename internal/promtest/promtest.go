package promtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"
)

// Binary is the Debian package's Prometheus server (apt-get install prometheus; .ci/run
// installs it).
const Binary = "/usr/bin/prometheus"

// RulesFile is the path of the shipped alert and recording rules, deploy/prometheus/onus-rules.yml.
func RulesFile(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("promtest: cannot locate the source tree")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "deploy", "prometheus", "onus-rules.yml")
}

// Server is a real Prometheus started by Start.
type Server struct {
	// URL is its base URL, http://127.0.0.1:PORT.
	URL string
}

// Start runs Binary on a free loopback port, scraping every second the targets of jobs
// (job name → HOST:PORT, plain HTTP; e.g. onus-collector and onus-agent, the job names the
// rules expect) and evaluating rulesFile every second, and waits until it is ready. The
// process is stopped by PID (SIGTERM, then SIGKILL) when the test ends; its log is printed
// when the test failed.
func Start(t testing.TB, rulesFile string, jobs map[string]string) *Server {
	t.Helper()
	targets := map[string]Target{}
	for job, addr := range jobs {
		targets[job] = Target{Addr: addr}
	}
	return StartTargets(t, rulesFile, targets)
}

// Target is a job's target for StartTargets: its HOST:PORT and, when set, the file of the
// bearer token Prometheus scrapes it with.
type Target struct {
	Addr, BearerTokenFile string
}

// StartTargets is Start with a bearer token for the jobs that have one.
func StartTargets(t testing.TB, rulesFile string, jobs map[string]Target) *Server {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("%s not found: install the Debian package (apt-get install prometheus; .ci/run installs it): %v", Binary, err)
	}
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
`, rules)
	for _, job := range slices.Sorted(maps.Keys(jobs)) {
		cfg += fmt.Sprintf("  - job_name: %q\n    static_configs:\n      - targets: [%q]\n", job, jobs[job].Addr)
		if f := jobs[job].BearerTokenFile; f != "" {
			cfg += fmt.Sprintf("    authorization:\n      credentials_file: %q\n", f)
		}
	}
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	var logs bytes.Buffer
	cmd := exec.Command(Binary, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("prometheus exited: %v\n%s", err, logs.String())
		default:
		}
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return &Server{URL: base}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Result is the answer of Prometheus's query API.
type Result struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// NonEmpty tells whether a result holds data: a non-empty vector or matrix, or a scalar.
func (r Result) NonEmpty() bool {
	switch r.Data.ResultType {
	case "vector", "matrix":
		var s []json.RawMessage
		return json.Unmarshal(r.Data.Result, &s) == nil && len(s) > 0
	default:
		return len(r.Data.Result) > 0 && string(r.Data.Result) != "null"
	}
}

// Sample is one element of an instant vector.
type Sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// Query runs an instant query; it fails the test only when Prometheus cannot be reached.
func (s *Server) Query(t testing.TB, q string) Result {
	t.Helper()
	resp, err := http.PostForm(s.URL+"/api/v1/query", url.Values{"query": {q}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r Result
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	return r
}

// Samples returns the vector an instant query answers (nil for other result types); a
// query error fails the test.
func (s *Server) Samples(t testing.TB, q string) []Sample {
	t.Helper()
	r := s.Query(t, q)
	if r.Status != "success" {
		t.Fatalf("query %s: %s: %s", q, r.ErrorType, r.Error)
	}
	var out []Sample
	if r.Data.ResultType == "vector" {
		if err := json.Unmarshal(r.Data.Result, &out); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// RuleHealth returns "group/rule: last error" for every rule Prometheus evaluated with an
// error.
func (s *Server) RuleHealth(t testing.TB) []string {
	t.Helper()
	var rules struct {
		Data struct {
			Groups []struct {
				Name  string
				Rules []struct{ Name, Health, LastError string }
			}
		}
	}
	resp, err := http.Get(s.URL + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&rules)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, g := range rules.Data.Groups {
		for _, r := range g.Rules {
			if r.Health == "err" {
				bad = append(bad, g.Name+"/"+r.Name+": "+r.LastError)
			}
		}
	}
	return bad
}

// WaitFor polls cond every 50 ms until it holds, failing the test after timeout, and
// returns how long it took.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not after %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}
