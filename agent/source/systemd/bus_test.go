package systemd

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/onus-project/onus/internal/model"
)

// manager stands in for systemd's org.freedesktop.systemd1.Manager: it answers ListUnits with
// a fixed list.
type manager struct{ units []busUnit }

func (m *manager) ListUnits() ([]busUnit, *dbus.Error) { return m.units, nil }

// startBus runs a real dbus-daemon listening at the system bus path under root, and returns
// a connection to it. The test is skipped when dbus-daemon is not installed.
func startBus(t *testing.T, root string) *dbus.Conn {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon not installed (Debian package dbus): skipping the D-Bus test")
	}
	sock := filepath.Join(root, systemBus)
	if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--session", "--nofork", "--print-address", "--address=unix:path="+sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// The daemon prints its address once it listens.
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon did not start: %v", err)
	}
	conn, err := dbus.Connect(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestCollectWithManager(t *testing.T) {
	root := writeTree(t, []file{
		{path: lib + "nginx.service", content: "[Unit]\nDescription=nginx\n[Install]\nWantedBy=multi-user.target\n"},
		{path: etc + "multi-user.target.wants/nginx.service", link: lib + "nginx.service"},
		{path: lib + "getty@.service", content: "[Unit]\nDescription=Getty on %I\n[Install]\nWantedBy=getty.target\n"},
		{path: etc + "getty.target.wants/getty@tty1.service", link: lib + "getty@.service"},
		{path: lib + "apt-daily.timer", content: "[Unit]\nDescription=Daily apt download activities\n"},
	})
	conn := startBus(t, string(root))
	mgr := &manager{units: []busUnit{
		{Name: "nginx.service", Description: "nginx", LoadState: "loaded", ActiveState: "active", SubState: "running", Path: "/org/freedesktop/systemd1/unit/nginx_2eservice", JobPath: "/"},
		{Name: "getty@tty1.service", Description: "Getty on tty1", LoadState: "loaded", ActiveState: "active", SubState: "running", Path: "/org/freedesktop/systemd1/unit/getty_40tty1_2eservice", JobPath: "/"},
		{Name: "getty@tty2.service", Description: "Getty on tty2", LoadState: "loaded", ActiveState: "failed", SubState: "failed", Path: "/org/freedesktop/systemd1/unit/getty_40tty2_2eservice", JobPath: "/"},
		{Name: "apt-daily.timer", Description: "Daily apt download activities", LoadState: "loaded", ActiveState: "active", SubState: "waiting", Path: "/org/freedesktop/systemd1/unit/apt_2ddaily_2etimer", JobPath: "/"},
		{Name: "run-u7.service", Description: "/usr/bin/sleep 600", LoadState: "loaded", ActiveState: "active", SubState: "running", Path: "/org/freedesktop/systemd1/unit/run_2du7_2eservice", JobPath: "/"},
		{Name: "plymouth-quit.service", Description: "plymouth-quit.service", LoadState: "not-found", ActiveState: "inactive", SubState: "dead", Path: "/org/freedesktop/systemd1/unit/plymouth_2dquit_2eservice", JobPath: "/"},
		{Name: "multi-user.target", Description: "Multi-User System", LoadState: "loaded", ActiveState: "active", SubState: "active", Path: "/org/freedesktop/systemd1/unit/multi_2duser_2etarget", JobPath: "/"},
		{Name: "session-3.scope", Description: "Session 3 of User admin", LoadState: "loaded", ActiveState: "active", SubState: "running", Path: "/org/freedesktop/systemd1/unit/session_2d3_2escope", JobPath: "/"},
	}}
	if sig := dbus.SignatureOf(mgr.units).String(); sig != "a(ssssssouso)" {
		t.Fatalf("ListUnits signature %s, want systemd's a(ssssssouso)", sig)
	}
	if err := conn.Export(mgr, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager"); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName("org.freedesktop.systemd1", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("RequestName: %v, %v", reply, err)
	}

	res, err := New(Options{Root: root, BusTimeout: 5 * time.Second}).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []model.Service{
		{Name: "apt-daily.timer", Description: "Daily apt download activities", UnitFileState: "static", ActiveState: "active", SubState: "waiting", Path: lib + "apt-daily.timer"},
		{Name: "getty@.service", Description: "Getty on %I", UnitFileState: "enabled", Path: lib + "getty@.service"},
		{Name: "getty@tty1.service", Description: "Getty on tty1", UnitFileState: "enabled", ActiveState: "active", SubState: "running", Path: lib + "getty@.service"},
		{Name: "getty@tty2.service", Description: "Getty on tty2", UnitFileState: "disabled", ActiveState: "failed", SubState: "failed", Path: lib + "getty@.service"},
		{Name: "nginx.service", Description: "nginx", UnitFileState: "enabled", ActiveState: "active", SubState: "running", Path: lib + "nginx.service"},
		{Name: "run-u7.service", Description: "/usr/bin/sleep 600", UnitFileState: "transient", ActiveState: "active", SubState: "running"},
	}
	for i := range want {
		want[i].Manager = "systemd"
	}
	if !slices.EqualFunc(res.Services, want, func(a, b model.Service) bool { return a.Equal(&b) }) {
		t.Errorf("services:\n got  %+v\n want %+v", res.Services, want)
	}
}

func TestCollectManagerUnreachable(t *testing.T) {
	// A socket path that exists but where nothing answers: the source still succeeds.
	root := writeTree(t, []file{
		{path: lib + "nginx.service", content: "[Unit]\nDescription=nginx\n"},
		{path: systemBus, content: "not a socket"},
	})
	res, err := New(Options{Root: root, BusTimeout: time.Second}).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Services) != 1 || res.Services[0].ActiveState != "" {
		t.Errorf("services = %+v, want nginx.service without states", res.Services)
	}
}
