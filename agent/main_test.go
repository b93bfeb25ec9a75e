//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/onus-project/onus/internal/model"
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
// reports what the whole process costs: CPU time (user+system) and peak resident memory.
func BenchmarkAgentProcess(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "onus-agent")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	state := b.TempDir()
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
