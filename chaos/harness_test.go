package chaos

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/testutil/wait"
)

const (
	enrollSecret = "chaos-enroll-secret-0123456789abcdef"
	adminToken   = "chaos-admin-token-0123456789abcdef"
)

// figures collects every scenario's figures, printed again together at the campaign's end.
var figures struct {
	sync.Mutex
	lines []string
}

// figure logs one figure of a scenario and keeps it for the campaign's summary.
func figure(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log("FIGURE " + line)
	figures.Lock()
	figures.lines = append(figures.lines, fmt.Sprintf("%-28s %s", t.Name(), line))
	figures.Unlock()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if len(figures.lines) > 0 {
		fmt.Println("\n== chaos campaign figures")
		for _, l := range figures.lines {
			fmt.Println(l)
		}
	}
	os.Exit(code)
}

// binDir returns the directory of the binaries under test, or skips the test when the
// campaign was not asked for.
func binDir(t *testing.T) string {
	t.Helper()
	if os.Getenv("ONUS_CHAOS") == "" {
		t.Skip("the fault campaign runs with make chaos (ONUS_CHAOS=1, ONUS_CHAOS_BIN=dir of the binaries)")
	}
	dir := os.Getenv("ONUS_CHAOS_BIN")
	if dir == "" {
		t.Fatal("ONUS_CHAOS_BIN: give the directory holding onus-collector, onus-agent and etcd")
	}
	for _, b := range []string{"onus-collector", "onus-agent", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			t.Fatalf("ONUS_CHAOS_BIN: %v (make chaos builds it)", err)
		}
	}
	return dir
}

// proc is one process of the campaign, started with exec and stopped by its PID.
type proc struct {
	name string
	bin  string
	args []string
	logs string // directory of its log files, one per start

	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
	log   string
	start int
	exit  int // the exit code of the last run, written before its done is closed
}

// newProc prepares a process; Start runs it, again after a kill.
func newProc(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, bin: bin, args: args, logs: t.TempDir()}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			p.dumpLog(t, 40)
		}
	})
	return p
}

// Start runs the process, its output going to a log file of this start.
func (p *proc) Start(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		t.Fatalf("%s: already running", p.name)
	}
	p.start++
	p.log = filepath.Join(p.logs, fmt.Sprintf("%s.%d.log", p.name, p.start))
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("%s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		f.Close()
		p.exit = cmd.ProcessState.ExitCode() // read only after done is closed
		close(done)
	}()
	p.cmd, p.done = cmd, done
}

// Kill sends SIGKILL to the process and waits until it is gone.
func (p *proc) Kill(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		t.Fatalf("%s: not running", p.name)
	}
	if err := syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatalf("%s: kill -9 %d: %v", p.name, p.cmd.Process.Pid, err)
	}
	<-p.done
	p.cmd = nil
}

// Wait waits at most timeout for the process to end by itself and returns its exit code.
func (p *proc) Wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatalf("%s still running after %s", p.name, timeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmd = nil
	return p.exit
}

// Stop ends the process with SIGTERM, then SIGKILL after 10 s.
func (p *proc) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	pid := p.cmd.Process.Pid
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(pid, syscall.SIGKILL)
		<-p.done
	}
	p.cmd = nil
}

// Exited says whether the process ended by itself.
func (p *proc) Exited() bool {
	started, ended := p.status()
	return started && ended
}

// running says whether the process was started and has not ended.
func (p *proc) running() bool {
	started, ended := p.status()
	return started && !ended
}

// status says whether the process was started (and not stopped since) and whether it ended.
func (p *proc) status() (started, ended bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false, false
	}
	select {
	case <-p.done:
		return true, true
	default:
		return true, false
	}
}

func (p *proc) dumpLog(t *testing.T, lines int) {
	t.Helper()
	if p.log == "" {
		return
	}
	b, _ := os.ReadFile(p.log)
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	t.Logf("--- last %d lines of %s (start %d):\n%s", lines, p.name, p.start, strings.Join(all[max(0, len(all)-lines):], "\n"))
}

// freeAddr returns a free 127.0.0.1 address.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeSecret writes a secret file readable by its owner only.
func writeSecret(t *testing.T, dir, name, value string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var client = &http.Client{Timeout: 10 * time.Second}

// answer is one HTTP answer.
type answer struct {
	status     int
	retryAfter string
	body       []byte
	err        error
}

// statusName is the answer's status, or "network" when there was none.
func (a answer) statusName() string {
	if a.err != nil {
		return "network"
	}
	return strconv.Itoa(a.status)
}

func do(method, url, token string, body []byte) answer {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: b, err: err}
}

// metric sums the samples of a metric in a /metrics text whose labels contain every one of
// labels (e.g. `result="accepted"`).
func metric(text []byte, name string, labels ...string) (float64, bool) {
	sum, found := 0.0, false
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || len(line) == len(name) || (line[len(name)] != ' ' && line[len(name)] != '{') {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil && len(f) >= 2 {
			v, err = strconv.ParseFloat(f[len(f)-2], 64) // a sample with a timestamp
		}
		if err == nil {
			sum += v
			found = true
		}
	}
	return sum, found
}

// formatCounts prints counts by status, sorted by status.
func formatCounts[V int | int64](m map[string]V) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// collector is one onus-collector serve process on a fixed 127.0.0.1 port, so that a
// restart keeps its URL.
type collector struct {
	*proc
	addr string
	url  string
}

// newCollector prepares a collector: with a data directory, on its embedded etcd; with
// endpoints, on that external cluster. extra flags follow.
func newCollector(t *testing.T, bin, name, dataDir string, endpoints []string, extra ...string) *collector {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	args := []string{"serve", "--listen-address", addr, "--insecure-http",
		"--enroll-secret-file", writeSecret(t, dir, "enroll-secret", enrollSecret),
		"--admin-token-file", writeSecret(t, dir, "admin-token", adminToken),
		"--status-flush-interval", "1s", "--log-level", "warn"}
	if len(endpoints) > 0 {
		args = append(args, "--etcd-endpoints", strings.Join(endpoints, ","))
	} else {
		args = append(args, "--data-dir", dataDir)
	}
	args = append(args, extra...)
	return &collector{proc: newProc(t, name, filepath.Join(bin, "onus-collector"), args...), addr: addr, url: "http://" + addr}
}

// ready says whether /readyz answers 200.
func (c *collector) ready() (bool, string) {
	a := do("GET", c.url+"/readyz", "", nil)
	return a.err == nil && a.status == http.StatusOK, fmt.Sprintf("%s %s", a.statusName(), strings.TrimSpace(string(a.body)))
}

// waitReady waits until /readyz answers 200 and returns how long that took.
func (c *collector) waitReady(t *testing.T, timeout time.Duration) time.Duration {
	t.Helper()
	return wait.For(t, timeout, c.name+" ready", func() (bool, string) {
		if c.Exited() {
			c.dumpLog(t, 30)
			t.Fatalf("%s exited", c.name)
		}
		return c.ready()
	})
}

// metrics reads the collector's /metrics.
func (c *collector) metrics(t *testing.T) []byte {
	t.Helper()
	a := do("GET", c.url+"/metrics", adminToken, nil)
	if a.err != nil || a.status != http.StatusOK {
		return nil
	}
	return a.body
}
