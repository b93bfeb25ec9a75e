package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/reporter"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/agent/source/dpkg"
	"github.com/onus-project/onus/agent/source/host"
	"github.com/onus-project/onus/agent/source/ports"
	"github.com/onus-project/onus/collector/app"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/bg"
	"github.com/onus-project/onus/internal/testutil/fixture"
)

// listenerEnv makes this test binary, run again by a test, a process that listens on
// 127.0.0.1, prints its port and lives until its standard input closes.
const listenerEnv = "ONUS_E2E_LISTENER"

func TestMain(m *testing.M) {
	if os.Getenv(listenerEnv) != "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startNamedListener runs a copy of this test binary under the file name name, listening on
// 127.0.0.1, as any user can: the kernel names the process after the file. It returns the
// process's port; the process is killed by its PID when the test ends.
func startNamedListener(t *testing.T, name string) int {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), name)
	if err := os.Link(self, bin); err != nil {
		b, err := os.ReadFile(self)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), listenerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("listener: %v", err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("listener printed %q", line)
	}
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
	if got := strings.TrimRight(string(comm), "\n"); got != name {
		t.Fatalf("the listener's name is %q, want %q", got, name)
	}
	return port
}

// startTextAgent runs a real agent whose inventory runs sources (nil: the platform's, on
// root), watching root, and returns its registry.
func startTextAgent(t *testing.T, root, url string, sources []source.Source) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	r := newReporter(t, root, reporter.Options{CollectorURL: url, InsecureHTTP: true, StateDir: t.TempDir(), Registerer: reg}, sources...)
	bg.Go(t, "agent", r.Run)
	return reg
}

// fullHost is the part of a host's detail these tests read.
type fullHost struct {
	Host     model.Host `json:"host"`
	Software []struct {
		Title      string `json:"title"`
		Installed  bool   `json:"installed"`
		Maintainer string `json:"maintainer"`
		Section    string `json:"section"`
		Summary    string `json:"summary"`
	} `json:"software"`
	Services  []model.Service      `json:"services"`
	Listeners []model.Listener     `json:"listeners"`
	Sources   []model.SourceStatus `json:"sources"`
	Events    []protocol.Event     `json:"events"`
}

func (d *fullHost) installed(title string) bool {
	for _, s := range d.Software {
		if s.Title == title && s.Installed {
			return true
		}
	}
	return false
}

// cleanedTotal sums what the collector had to clean, over every field.
func cleanedTotal(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n, seen := 0.0, false
	for _, mf := range mfs {
		if mf.GetName() == "onus_collector_report_text_cleaned_total" {
			seen = true
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	if !seen {
		t.Fatal("the collector serves no onus_collector_report_text_cleaned_total")
	}
	return n
}

func agentInvalid(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	n, err := testutil.GatherAndCount(reg, "onus_agent_reports_invalid_total")
	if err != nil || n != 1 {
		t.Fatalf("onus_agent_reports_invalid_total: %d series, %v", n, err)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "onus_agent_reports_invalid_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

const hostileID = "0badc0de0badc0de0badc0de0badc0de" // the hostile fixture's machine-id

// TestHostileHost runs a real agent on the hostile fixture root against a real collector:
// every value a local user or a package made hostile is stored escaped; nothing is refused;
// the collector had nothing left to clean, since the agent cleans where it reads; an
// install on that host arrives within 5 s.
func TestHostileHost(t *testing.T) {
	root := fixture.CopyRoot(t, fixture.Root(t, "hostile"))
	// A unit named with systemd's escape for '-' (a backslash cannot be in a file name the
	// repository holds).
	unit := filepath.Join(root, `etc/systemd/system/evil\x2dname.service`)
	if err := os.WriteFile(unit, []byte("[Unit]\nDescription=\x1b]0;owned\x07 escaped\n[Service]\nExecStart=/bin/true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	col := runCollector(t, app.Options{InsecureHTTP: true, DataDir: t.TempDir()})
	url, reg := col.URL(), col.Registry
	areg := startTextAgent(t, root, url, nil)
	d := waitHost(t, url, hostileID, 20*time.Second, "first report", func(d *fullHost) bool { return len(d.Software) > 0 })

	checks := []struct{ what, got, want string }{
		{"hostname", d.Host.Hostname, `evil\x1b[31mhost`},
		{"os pretty name", d.Host.OS.PrettyName, `Debian GNU/Linux 12 \x1b[2J(bookworm)`},
		{"os name", d.Host.OS.Name, `Debian\x7f GNU/Linux`},
		{"os version", d.Host.OS.Version, `12 (book\u0085worm)`},
		{"os id_like", d.Host.OS.IDLike, "caf\uFFFD"},
		{"cpu model", d.Host.CPU.Model, `Intel(R) \x1b[5mXeon`},
	}
	mounts := map[string]bool{}
	for _, fs := range d.Host.Filesystems {
		mounts[fs.Mountpoint] = true
	}
	for _, m := range []string{`/mnt/new\nline`, `/mnt/\x1b[31mred`, "/srv/caf\uFFFD"} {
		if !mounts[m] {
			t.Errorf("mount point %q not stored; have %v", m, mounts)
		}
	}
	pkgs := map[string][3]string{}
	for _, s := range d.Software {
		pkgs[s.Title] = [3]string{s.Summary, s.Maintainer, s.Section}
	}
	checks = append(checks,
		struct{ what, got, want string }{"deb Description", pkgs["deb:evil-desc"][0], `clears your terminal \x1b[2J\x1b]0;owned\x07`},
		struct{ what, got, want string }{"deb Maintainer", pkgs["deb:evil-maint"][1], "Ren\uFFFD D\\x7fupont <rene@example.com>"},
		struct{ what, got, want string }{"deb Section", pkgs["deb:evil-maint"][2], "caf\uFFFD"},
	)
	if s := pkgs["deb:evil-long"][0]; len(s) > protocol.MaxFieldLen || !strings.HasSuffix(s, protocol.CutMarker) {
		t.Errorf("over-long Description stored as %d bytes, want at most %d ending with %q", len(s), protocol.MaxFieldLen, protocol.CutMarker)
	}
	units := map[string]string{}
	for _, s := range d.Services {
		units[s.Name] = s.Description
	}
	if len(units) != 2 {
		t.Errorf("services %+v, want the two units", d.Services)
	}
	checks = append(checks,
		struct{ what, got, want string }{"unit description", units["evil-daemon.service"], `Evil \x1b[31mred\x1b[0m daemon`},
		struct{ what, got, want string }{"\\x2d unit's description", units[`evil\x2dname.service`], `\x1b]0;owned\x07 escaped`},
	)
	procs := map[uint16]string{}
	for _, l := range d.Listeners {
		procs[l.Port] = l.Process
	}
	checks = append(checks,
		struct{ what, got, want string }{"process with ESC", procs[4444], `\x1b[31mevil\x1b[0m`},
		struct{ what, got, want string }{"process not UTF-8", procs[4445], "d\uFFFDmon\uFFFD"},
	)
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s stored as %q, want %q", c.what, c.got, c.want)
		}
	}
	for _, s := range d.Sources {
		if s.Name == "dpkg" && s.Skipped != 1 {
			t.Errorf("dpkg skipped %d records, want the stanza without a name", s.Skipped)
		}
	}

	fixture.DpkgInstall(t, root, "after-hostile", "1.0-1", time.Now().Add(-time.Second).UTC().Truncate(time.Second))
	waitHost(t, url, hostileID, 5*time.Second, "install on the hostile host", func(d *fullHost) bool { return d.installed("deb:after-hostile") })
	if n := cleanedTotal(t, reg); n != 0 {
		t.Errorf("the collector cleaned %v values of a current agent's reports, want 0: agent and collector disagree", n)
	}
	if n := agentInvalid(t, areg); n != 0 {
		t.Errorf("the agent found %v reports the collector would refuse", n)
	}
}

// TestHostRootWithoutProc: on a host root without /proc the host source fails with one line
// per fact it could not read; the agent still reports, the error is stored on one line with
// its newlines escaped, and an install arrives within 5 s.
func TestHostRootWithoutProc(t *testing.T) {
	root := fixture.CopyRoot(t, fixture.Root(t, "debian12"))
	if err := os.RemoveAll(filepath.Join(root, "proc")); err != nil {
		t.Fatal(err)
	}
	col := runCollector(t, app.Options{InsecureHTTP: true, DataDir: t.TempDir()})
	url, reg := col.URL(), col.Registry
	startTextAgent(t, root, url, nil)
	d := waitHost(t, url, hostID, 20*time.Second, "first report", func(d *fullHost) bool { return len(d.Software) > 0 })
	var hostErr string
	for _, s := range d.Sources {
		if s.Name == "host" {
			hostErr = s.Error
		}
	}
	if !strings.Contains(hostErr, `\n`) || strings.ContainsAny(hostErr, "\n\r") {
		t.Errorf("host source error stored as %q, want several lines joined by an escaped newline", hostErr)
	}
	fixture.DpkgInstall(t, root, "no-proc-tool", "1.0-1", time.Now().Add(-time.Second).UTC().Truncate(time.Second))
	waitHost(t, url, hostID, 5*time.Second, "install on a root without /proc", func(d *fullHost) bool { return d.installed("deb:no-proc-tool") })
	if n := cleanedTotal(t, reg); n != 0 {
		t.Errorf("the collector cleaned %v values, want 0", n)
	}
}

// TestProcessNamedWithEscape: a real process whose binary is named with an escape sequence
// listens on 127.0.0.1; the real ports source reads the real /proc. The agent reports within
// 5 s with the name escaped, and an install on its host after that within 5 s.
func TestProcessNamedWithEscape(t *testing.T) {
	const name = "\x1b[31mevil"
	port := startNamedListener(t, name)
	root := fixture.CopyRoot(t, fixture.Root(t, "debian12"))
	url := runCollector(t, app.Options{InsecureHTTP: true, DataDir: t.TempDir()}).URL()
	startTextAgent(t, root, url, []source.Source{
		host.New(host.Options{Root: hostfs.Root(root)}), dpkg.New(hostfs.Root(root)), ports.New("/")})
	waitHost(t, url, hostID, 5*time.Second, "report with the escaped process", func(d *fullHost) bool {
		for _, l := range d.Listeners {
			if int(l.Port) == port && l.Address == "127.0.0.1" {
				if l.Process != `\x1b[31mevil` {
					t.Fatalf("process stored as %q, want %q", l.Process, `\x1b[31mevil`)
				}
				return true
			}
		}
		return false
	})
	fixture.DpkgInstall(t, root, "beside-evil", "1.0-1", time.Now().Add(-time.Second).UTC().Truncate(time.Second))
	waitHost(t, url, hostID, 5*time.Second, "install beside the process", func(d *fullHost) bool { return d.installed("deb:beside-evil") })
}
