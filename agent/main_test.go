//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
)

func TestInventoryCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	root := fixture.Root(t, "debian12")
	code := run([]string{"inventory", "--host-root", root, "--state-dir", t.TempDir(), "--label", "env=prod", "--label", "role=web"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var inv model.Inventory
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&inv); err != nil {
		t.Fatal(err)
	}
	if inv.Host.Hostname != "web-01" || inv.Host.Labels["role"] != "web" || len(inv.Software) == 0 {
		t.Errorf("host %+v, %d packages", inv.Host, len(inv.Software))
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no command", nil, 2, "Usage"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"bad label", []string{"inventory", "--label", "novalue"}, 2, "key=value"},
		{"unknown source", []string{"inventory", "--sources", "dpkg,nope"}, 1, "unknown source"},
		{"missing root", []string{"inventory", "--host-root", "/does/not/exist"}, 1, "host root"},
		{"extra argument", []string{"inventory", "extra"}, 2, "unexpected argument"},
		{"version", []string{"version"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.code, tt.msg)
			}
		})
	}
}

// BenchmarkAgentProcess runs the built agent binary's one-shot inventory of this machine and
// reports what the whole process costs: CPU time (user+system) and the highest peak resident
// memory of the runs.
func BenchmarkAgentProcess(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "onus-agent")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	state := b.TempDir()
	// The first pass hashes every file no package owns and reads every file list; the
	// passes measured are the steady ones that follow, as an agent restarted on its state
	// directory makes.
	if err := exec.Command(bin, "inventory", "--compact", "--state-dir", state).Run(); err != nil {
		b.Fatal(err)
	}
	var cpuNS, maxRSS int64
	for b.Loop() {
		cmd := exec.Command(bin, "inventory", "--compact", "--state-dir", state)
		cmd.Stdout = nil
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpuNS += ru.Utime.Nano() + ru.Stime.Nano()
		maxRSS = max(maxRSS, ru.Maxrss)
	}
	b.ReportMetric(float64(cpuNS)/float64(b.N)/1e6, "cpu-ms/op")
	b.ReportMetric(float64(maxRSS)/1024, "maxrss-MiB")
}

func TestRunConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "agent.yaml")
	os.WriteFile(file, []byte(`collector_url: https://collector.example:8443
enroll_secret_file: /etc/onus/secret
state_dir: /var/lib/x
labels: {env: prod, role: db}
heartbeat_interval: 30s
full_interval: 12h
metrics_address: 127.0.0.1:9101
`), 0o600)
	cfg, err := loadRunConfig([]string{"--config", file, "--heartbeat-interval", "10s", "--label", "env=staging"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := runConfig{CollectorURL: "https://collector.example:8443", EnrollSecretFile: "/etc/onus/secret", StateDir: "/var/lib/x",
		HostRoot: "/", Labels: map[string]string{"env": "staging", "role": "db"}, HeartbeatInterval: 10 * time.Second,
		FullInterval: 12 * time.Hour, LogLevel: "info", MetricsAddress: "127.0.0.1:9101"}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config\n%+v\nwant\n%+v", cfg, want)
	}

	os.WriteFile(file, []byte("collector_url: https://x\nheartbeat: 5s\n"), 0o600)
	if _, err := loadRunConfig([]string{"--config", file}, io.Discard); err == nil || !strings.Contains(err.Error(), "heartbeat") {
		t.Errorf("unknown key: %v", err)
	}
}

func TestRunUsageErrors(t *testing.T) {
	root := fixture.Root(t, "debian12")
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("s3cret\n"), 0o600)
	badYAML := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(badYAML, []byte("collector_url: [\n"), 0o600)
	common := []string{"--enroll-secret-file", secret, "--state-dir", t.TempDir(), "--host-root", root}
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"plain http refused", append([]string{"--collector-url", "http://127.0.0.1:1"}, common...), 2, "--insecure-http"},
		{"no collector", common, 2, "--collector-url is required"},
		{"no secret", []string{"--collector-url", "https://x"}, 2, "--enroll-secret-file is required"},
		{"missing secret file", []string{"--collector-url", "https://x", "--enroll-secret-file", "/does/not/exist"}, 1, "enroll-secret-file"},
		{"bad YAML", []string{"--config", badYAML}, 2, "bad.yaml"},
		{"bad log level", append([]string{"--collector-url", "https://x", "--log-level", "loud"}, common...), 2, "log-level"},
		{"extra argument", []string{"extra"}, 2, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(append([]string{"run"}, tt.args...), io.Discard, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.code, tt.msg)
			}
		})
	}
}

// TestRunCommand runs "onus-agent run" against a collector that accepts every report, with
// the metrics endpoint on, and stops it through its context.
func TestRunCommand(t *testing.T) {
	reports := make(chan protocol.Report, 10)
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+protocol.PathEnroll, func(w http.ResponseWriter, r *http.Request) {
		var req protocol.EnrollRequest
		json.NewDecoder(r.Body).Decode(&req)
		json.NewEncoder(w).Encode(protocol.EnrollResponse{HostID: req.HostID, Credential: "c1"})
	})
	mux.HandleFunc("POST "+protocol.PathReport, func(w http.ResponseWriter, r *http.Request) {
		var rep protocol.Report
		if err := protocol.Decode(r.Body, r.Header.Get("Content-Encoding"), protocol.DefaultLimits, &rep); err != nil {
			t.Error(err)
		}
		reports <- rep
		json.NewEncoder(w).Encode(protocol.ReportResponse{Status: protocol.StatusAccepted, Hash: rep.Hash, Seq: rep.Seq})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := ln.Addr().String()
	ln.Close()

	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("s3cret\n"), 0o600)
	config := filepath.Join(dir, "agent.yaml")
	os.WriteFile(config, []byte("insecure_http: true\nlabels: {env: test}\n"), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- runCmd(ctx, []string{"--config", config, "--collector-url", srv.URL, "--enroll-secret-file", secret,
			"--state-dir", filepath.Join(dir, "state"), "--host-root", fixture.Root(t, "debian12"), "--metrics-address", metricsAddr,
			"--log-level", "debug"}, &stderr)
	}()
	select {
	case rep := <-reports:
		if rep.Kind != protocol.KindFull || rep.State.Host.Labels["env"] != "test" {
			t.Errorf("first report %s, labels %v", rep.Kind, rep.State.Host.Labels)
		}
	case code := <-done:
		t.Fatalf("run exited %d: %s", code, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("no report")
	}
	var body []byte
	for range 50 {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), `onus_agent_reports_total{kind="full",result="accepted"} 1`) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, m := range []string{`onus_agent_reports_total{kind="full",result="accepted"} 1`, "onus_agent_source_success", "go_goroutines"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after the context ended: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
}
