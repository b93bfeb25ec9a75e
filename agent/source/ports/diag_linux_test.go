package ports

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDiagMatchesTables: on this host, sock_diag lists the same listeners, with the same
// owners, as the socket tables, the test's own TCP and UDP sockets (IPv4 and IPv6) among them.
func TestDiagMatchesTables(t *testing.T) {
	s := New("/")
	if !s.diagUsable() {
		t.Skip("not in PID 1's network namespace: the tables are read")
	}
	var closers []func() error
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for _, n := range []struct{ net, addr string }{{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}, {"udp4", "127.0.0.1:0"}, {"udp6", "[::1]:0"}} {
		if n.net[:3] == "tcp" {
			l, err := net.Listen(n.net, n.addr)
			if err != nil {
				t.Logf("%s: %v", n.net, err)
				continue
			}
			closers = append(closers, l.Close)
		} else {
			l, err := net.ListenPacket(n.net, n.addr)
			if err != nil {
				t.Logf("%s: %v", n.net, err)
				continue
			}
			closers = append(closers, l.Close)
		}
	}
	// A connected UDP socket has a peer: neither way lists it.
	if c, err := net.Dial("udp4", "127.0.0.1:9"); err == nil {
		closers = append(closers, c.Close)
	}
	diag, err := s.Collect(context.Background())
	if err != nil || s.via != "sock_diag" {
		t.Fatalf("sock_diag: via %q, %v", s.via, err)
	}
	tables := New("/")
	tables.tablesOnly = true
	tab, err := tables.Collect(context.Background())
	if err != nil || tables.via == "sock_diag" {
		t.Fatalf("tables: via %q, %v", tables.via, err)
	}
	if !slices.Equal(diag.Listeners, tab.Listeners) {
		t.Fatalf("sock_diag lists\n%+v\nthe tables\n%+v", diag.Listeners, tab.Listeners)
	}
	own := 0
	for _, l := range diag.Listeners {
		if l.PID == os.Getpid() {
			own++
		}
	}
	if own < len(closers)-1 {
		t.Fatalf("%d of the test's own %d listening sockets listed: %+v", own, len(closers)-1, diag.Listeners)
	}
}

// diagMsg makes one netlink message of a sock_diag dump.
func diagMsg(typ uint16, seq uint32, body []byte) []byte {
	b := make([]byte, nlmsgHdrLen+len(body), nlmsgHdrLen+len(body)+3)
	binary.NativeEndian.PutUint32(b, uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint32(b[8:], seq)
	copy(b[nlmsgHdrLen:], body)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func inetDiag(family byte, addr []byte, sport, dport uint16, inode uint32) []byte {
	m := make([]byte, diagMsgLen+8) // and an attribute the reader passes over
	m[0] = family
	binary.BigEndian.PutUint16(m[4:], sport)
	binary.BigEndian.PutUint16(m[6:], dport)
	copy(m[8:], addr)
	binary.NativeEndian.PutUint32(m[68:], inode)
	return m
}

func TestParseDiag(t *testing.T) {
	tcp := table{"tcp", "tcp", false}
	var b []byte
	b = append(b, diagMsg(sockDiagByFamily, 7, inetDiag(unix.AF_INET, []byte{127, 0, 0, 1}, 8080, 0, 42))...)
	b = append(b, diagMsg(sockDiagByFamily, 7, inetDiag(unix.AF_INET, []byte{10, 0, 0, 1}, 5353, 80, 43))...) // a peer
	b = append(b, diagMsg(sockDiagByFamily, 6, inetDiag(unix.AF_INET, []byte{10, 0, 0, 2}, 22, 0, 44))...)    // another dump's
	b = append(b, diagMsg(sockDiagByFamily, 7, []byte{1, 2, 3})...)                                           // too short
	socks, done, err := parseDiag(b, 7, tcp, nil)
	if err != nil || done || len(socks) != 1 || socks[0].port != 8080 || socks[0].inode != 42 || socks[0].addr.String() != "127.0.0.1" {
		t.Fatalf("got %+v done %v err %v", socks, done, err)
	}
	if _, done, err := parseDiag(diagMsg(unix.NLMSG_DONE, 7, []byte{0, 0, 0, 0}), 7, tcp, nil); !done || err != nil {
		t.Fatalf("NLMSG_DONE: done %v err %v", done, err)
	}
	errno := make([]byte, 4)
	e := -int32(unix.EPERM)
	binary.NativeEndian.PutUint32(errno, uint32(e))
	if _, _, err := parseDiag(diagMsg(unix.NLMSG_ERROR, 7, errno), 7, tcp, nil); err == nil {
		t.Fatal("an NLMSG_ERROR with an errno is an error")
	}
	bad := diagMsg(sockDiagByFamily, 7, inetDiag(unix.AF_INET, nil, 1, 0, 1))
	binary.NativeEndian.PutUint32(bad, 1<<20)
	if _, _, err := parseDiag(bad, 7, tcp, nil); err == nil {
		t.Fatal("a length past the datagram is an error")
	}
}

func FuzzParseDiag(f *testing.F) {
	f.Add(diagMsg(sockDiagByFamily, 1, inetDiag(unix.AF_INET6, make([]byte, 16), 443, 0, 9)))
	f.Add(diagMsg(unix.NLMSG_DONE, 1, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		socks, _, _ := parseDiag(b, 1, table{"udp6", "udp6", true}, nil)
		if len(socks) > len(b)/diagMsgLen {
			t.Fatalf("%d sockets from %d bytes", len(socks), len(b))
		}
		for _, s := range socks {
			if s.port == 0 || !s.addr.IsValid() {
				t.Fatalf("bad socket %+v", s)
			}
		}
	})
}
