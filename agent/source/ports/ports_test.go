package ports

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/testutil/golden"
)

var fixtures = []string{"debian12", "rocky9"}

func fixtureRoot(name string) hostfs.Root {
	return hostfs.Root(filepath.Join("..", "..", "testdata", "roots", name))
}

func TestCollectFixtures(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			res, err := New(fixtureRoot(name)).Collect(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if res.Skipped != 0 {
				t.Errorf("Skipped = %d, want 0", res.Skipped)
			}
			golden.AssertJSON(t, filepath.Join("testdata", name+".golden.json"), res.Listeners)
		})
	}
}

func TestCollectDebian12(t *testing.T) {
	res, err := New(fixtureRoot("debian12")).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	find := func(proto string, port uint16, addr string) model.Listener {
		t.Helper()
		for _, l := range res.Listeners {
			if l.Protocol == proto && l.Port == port && l.Address == addr {
				return l
			}
		}
		t.Fatalf("no %s %s:%d in %+v", proto, addr, port, res.Listeners)
		return model.Listener{}
	}
	tests := []struct {
		name  string
		proto string
		port  uint16
		addr  string
		want  model.Listener
	}{
		{"pre-forked workers share the socket: lowest pid", "tcp", 80, "0.0.0.0",
			model.Listener{Protocol: "tcp", Address: "0.0.0.0", Port: 80, PID: 701, Process: "nginx", Unit: "nginx.service"}},
		{"instance unit in a nested slice", "tcp6", 5432, "::1",
			model.Listener{Protocol: "tcp6", Address: "::1", Port: 5432, PID: 655, Process: "postgres", Unit: "postgresql@15-main.service"}},
		{"IPv4-mapped IPv6", "tcp6", 8080, "::ffff:127.0.0.1",
			model.Listener{Protocol: "tcp6", Address: "::ffff:127.0.0.1", Port: 8080, PID: 1201, Process: "java", Unit: "tomcat10.service"}},
		{"kernel socket without a process", "tcp", 2049, "0.0.0.0",
			model.Listener{Protocol: "tcp", Address: "0.0.0.0", Port: 2049}},
		{"socket activation: systemd holds it, outside system.slice", "udp", 111, "0.0.0.0",
			model.Listener{Protocol: "udp", Address: "0.0.0.0", Port: 111, PID: 1, Process: "systemd"}},
		{"bound UDP", "udp", 68, "0.0.0.0",
			model.Listener{Protocol: "udp", Address: "0.0.0.0", Port: 68, PID: 388, Process: "dhclient", Unit: "ifup@enp1s0.service"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := find(tt.proto, tt.port, tt.addr); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	for _, l := range res.Listeners {
		if l.Port == 22 && l.PID == 1833 || l.Port == 39421 || l.Port == 443 && l.Address != "0.0.0.0" {
			t.Errorf("connection listed as a listener: %+v", l)
		}
	}
}

func TestNotPresent(t *testing.T) {
	_, err := New(hostfs.Root(t.TempDir())).Collect(context.Background())
	if !errors.Is(err, source.ErrNotPresent) {
		t.Fatalf("err = %v, want ErrNotPresent", err)
	}
}

func TestCollectLive(t *testing.T) {
	if _, err := os.Stat("/proc/self/net/tcp"); err != nil {
		t.Skip("no Linux /proc")
	}
	tl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	ul, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	want := []model.Listener{
		{Protocol: "tcp", Address: "127.0.0.1", Port: uint16(tl.Addr().(*net.TCPAddr).Port)},
		{Protocol: "udp", Address: "127.0.0.1", Port: uint16(ul.LocalAddr().(*net.UDPAddr).Port)},
	}
	res, err := New("/").Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		found := false
		for _, l := range res.Listeners {
			if l.Protocol == w.Protocol && l.Address == w.Address && l.Port == w.Port {
				found = true
				if l.PID != os.Getpid() || l.Process != strings.TrimSpace(string(comm)) {
					t.Errorf("%s %s:%d owned by %d %q, want %d %q", w.Protocol, w.Address, w.Port,
						l.PID, l.Process, os.Getpid(), strings.TrimSpace(string(comm)))
				}
			}
		}
		if !found {
			t.Errorf("%s %s:%d not listed (is the test in PID 1's network namespace?)", w.Protocol, w.Address, w.Port)
		}
	}
}

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in   string
		addr string
		port uint16
		err  bool
	}{
		{in: "0100007F:0035", addr: "127.0.0.1", port: 53},
		{in: "00000000:0016", addr: "0.0.0.0", port: 22},
		{in: "147AA8C0:01BB", addr: "192.168.122.20", port: 443},
		{in: "00000000000000000000000001000000:1538", addr: "::1", port: 5432},
		{in: "00000000000000000000000000000000:0050", addr: "::", port: 80},
		{in: "0000000000000000FFFF00000100007F:1F90", addr: "::ffff:127.0.0.1", port: 8080},
		{in: "B80D0120000000000000000001000000:0050", addr: "2001:db8::1", port: 80},
		{in: "0100007F", err: true},
		{in: "0100007F:35", err: true},
		{in: "0100007G:0035", err: true},
		{in: "0100007F00:0035", err: true},
		{in: ":0035", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			addr, port, err := parseAddr([]byte(tt.in))
			if tt.err {
				if err == nil {
					t.Fatalf("got %v:%d, want an error", addr, port)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if addr != netip.MustParseAddr(tt.addr) || port != tt.port {
				t.Errorf("got %v:%d, want %s:%d", addr, port, tt.addr, tt.port)
			}
		})
	}
}

func TestParseTable(t *testing.T) {
	const hdr = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	tests := []struct {
		name    string
		t       table
		in      string
		want    []sock
		skipped int
	}{
		{
			name: "listen and established",
			t:    tables()[0],
			in: hdr +
				"   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 18304 1 0000000000000000 100 0 0 10 0\n" +
				"   1: 147AA8C0:0016 017AA8C0:D0AE 01 00000000:00000000 02:000A7E1D 00000000     0        0 31337 1 0000000000000000 20 4 30 10 -1\n",
			want: []sock{{proto: "tcp", addr: netip.MustParseAddr("0.0.0.0"), port: 22, inode: 18304}},
		},
		{
			name: "udp: bound, connected, unbound",
			t:    tables()[2],
			in: hdr +
				"  100: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 16021 2 0000000000000000 0\n" +
				"  101: 147AA8C0:99FD 7B0200C0:007B 01 00000000:00000000 00:00000000 00000000   998        0 21220 2 0000000000000000 0\n" +
				"  102: 00000000:0000 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 21221 2 0000000000000000 0\n",
			want: []sock{{proto: "udp", addr: netip.MustParseAddr("0.0.0.0"), port: 68, inode: 16021}},
		},
		{
			name: "malformed lines skipped",
			t:    tables()[0],
			in: hdr +
				"   0: 00000000:0016 00000000:0000 0A\n" +
				"   1: 0000000Z:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n" +
				"   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 x 1\n" +
				"   3: 00000000:0016 00000000:0000 ZZ 00000000:00000000 00:00000000 00000000     0        0 1 1\n" +
				"   4: 00000000:0017 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9 1\n",
			want:    []sock{{proto: "tcp", addr: netip.MustParseAddr("0.0.0.0"), port: 23, inode: 9}},
			skipped: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, skipped, err := parseTable(strings.NewReader(tt.in), tt.t, nil, make([]byte, maxLine))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("got %+v, want %+v", got[i], tt.want[i])
				}
			}
			if skipped != tt.skipped {
				t.Errorf("skipped = %d, want %d", skipped, tt.skipped)
			}
		})
	}
}

func TestUnitFromCgroup(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"v2 service", "0::/system.slice/nginx.service\n", "nginx.service"},
		{"v2 nested slice", "0::/system.slice/system-postgresql.slice/postgresql@15-main.service\n", "postgresql@15-main.service"},
		{"v2 container scope", "0::/system.slice/docker-4f1e2a.scope\n", "docker-4f1e2a.scope"},
		{"v2 sub-cgroup of a service", "0::/system.slice/containerd.service/kubepods-burstable.slice\n", "containerd.service"},
		{"v2 from another cgroup namespace", "0::/../../system.slice/sshd.service\n", "sshd.service"},
		{"user session", "0::/user.slice/user-1000.slice/session-3.scope\n", ""},
		{"init", "0::/init.scope\n", ""},
		{"v1", "12:pids:/system.slice/cron.service\n1:name=systemd:/system.slice/cron.service\n", "cron.service"},
		{"hybrid", "1:name=systemd:/system.slice/a.service\n0::/system.slice/b.service\n", "b.service"},
		{"garbage", "nonsense\n::\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unitFromCgroup([]byte(tt.in)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzParseTable(f *testing.F) {
	for _, root := range fixtures {
		paths, _ := filepath.Glob(filepath.Join(string(fixtureRoot(root)), "proc", "*", "net", "*"))
		more, _ := filepath.Glob(filepath.Join(string(fixtureRoot(root)), "proc", "net", "*"))
		for _, p := range append(paths, more...) {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b, strings.HasPrefix(filepath.Base(p), "udp"))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, udp bool) {
		tb := tables()[0]
		if udp {
			tb = tables()[2]
		}
		socks, skipped, err := parseTable(bytes.NewReader(data), tb, nil, make([]byte, maxLine))
		lines := bytes.Count(data, []byte("\n")) + 1
		if err == nil && len(socks)+skipped > lines {
			t.Fatalf("%d sockets and %d skipped from %d lines", len(socks), skipped, lines)
		}
		for _, s := range socks {
			if s.port == 0 || !s.addr.IsValid() || s.proto != tb.proto {
				t.Fatalf("bad socket %+v", s)
			}
		}
	})
}

func FuzzUnitFromCgroup(f *testing.F) {
	f.Add([]byte("0::/system.slice/nginx.service\n"))
	f.Add([]byte("1:name=systemd:/system.slice/cron.service\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		u := unitFromCgroup(data)
		if len(u) > len(data) || strings.Contains(u, "/") {
			t.Fatalf("unit %q from %q", u, data)
		}
	})
}

func BenchmarkCollect(b *testing.B) {
	roots := map[string]hostfs.Root{"live": "/"}
	for _, name := range fixtures {
		roots[name] = fixtureRoot(name)
	}
	for _, name := range []string{"debian12", "rocky9", "live"} {
		b.Run(name, func(b *testing.B) {
			s := New(roots[name])
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Collect(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
