package ports

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The socket tables under /proc/net are made by walking every bucket of the kernel's socket
// hash tables, whose size grows with the machine's memory: on a host with tens of GiB,
// reading /proc/net/tcp costs milliseconds of kernel time even with a handful of sockets. The
// kernel's sock_diag netlink interface (the one ss uses) is asked for the listening sockets
// only, and answers from the listening hash: microseconds. It answers for the asking
// process's network namespace, so it is used only when that is PID 1's (see diagUsable).

// Sizes and values of linux/netlink.h, linux/sock_diag.h and linux/inet_diag.h.
const (
	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY
	nlmsgHdrLen      = 16
	diagReqLen       = 56 // struct inet_diag_req_v2
	diagMsgLen       = 72 // struct inet_diag_msg
	tcpListen        = 10 // TCP_LISTEN
	tcpClose         = 7  // TCP_CLOSE: an unconnected UDP socket
	diagTimeout      = 2 * time.Second
)

// errDiagTooMany stops a dump that lists more sockets than a socket table may hold lines.
var errDiagTooMany = errors.New("sock_diag: too many sockets")

// diagUsable says whether sock_diag answers for the host's sockets: the agent is in PID 1's
// network namespace, as read under the host root. The namespaces' links say so; where PID 1's
// cannot be read (a user namespace, or no ptrace access to PID 1), the inode of its tcp table
// does, since procfs numbers each namespace's tables apart. A root whose PID 1 has neither (a
// fixture) is answered from the socket tables.
func (s *Source) diagUsable() bool {
	if host, err := os.Readlink(s.root.Path("/proc/1/ns/net")); err == nil {
		self, err := os.Readlink("/proc/self/ns/net")
		return err == nil && self == host
	}
	var host, self unix.Stat_t
	if unix.Stat(s.root.Path("/proc/1/net/tcp"), &host) != nil || unix.Stat("/proc/self/net/tcp", &self) != nil {
		return false
	}
	return host.Ino == self.Ino && host.Ino != 0
}

// diagSockets lists the listening sockets of the four tables by sock_diag.
func diagSockets() ([]sock, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(diagTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	var socks []sock
	buf := make([]byte, 32<<10)
	for i, t := range tables() {
		family, proto, states := uint8(unix.AF_INET), uint8(unix.IPPROTO_TCP), uint32(1)<<tcpListen
		if t.file == "tcp6" || t.file == "udp6" {
			family = unix.AF_INET6
		}
		if t.udp {
			proto, states = unix.IPPROTO_UDP, 1<<tcpClose
		}
		if socks, err = diagDump(fd, uint32(i+1), family, proto, states, t, socks, buf); err != nil {
			return nil, err
		}
	}
	return socks, nil
}

// diagDump asks for one family and protocol's sockets in states and appends the listening
// ones to socks.
func diagDump(fd int, seq uint32, family, proto uint8, states uint32, t table, socks []sock, buf []byte) ([]sock, error) {
	req := make([]byte, nlmsgHdrLen+diagReqLen)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], sockDiagByFamily)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:], seq)
	req[16], req[17] = family, proto
	binary.NativeEndian.PutUint32(req[20:], states)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("sock_diag: %w", err)
		}
		var done bool
		if socks, done, err = parseDiag(buf[:n], seq, t, socks); err != nil || done {
			return socks, err
		}
	}
}

// parseDiag appends the listening sockets of one netlink datagram of a dump to socks; done
// is true at the dump's end. Messages of another sequence number (a dump asked before) are
// passed over.
func parseDiag(b []byte, seq uint32, t table, socks []sock) (_ []sock, done bool, err error) {
	for len(b) >= nlmsgHdrLen {
		l := binary.NativeEndian.Uint32(b[0:])
		typ := binary.NativeEndian.Uint16(b[4:])
		mseq := binary.NativeEndian.Uint32(b[8:])
		if l < nlmsgHdrLen || uint64(l) > uint64(len(b)) {
			return socks, false, fmt.Errorf("sock_diag: message of %d bytes in %d", l, len(b))
		}
		msg := b[nlmsgHdrLen:l]
		b = b[min(uint64(len(b)), (uint64(l)+3)&^3):]
		if mseq != seq {
			continue
		}
		switch typ {
		case unix.NLMSG_DONE:
			return socks, true, nil
		case unix.NLMSG_ERROR:
			if len(msg) >= 4 {
				if errno := int32(binary.NativeEndian.Uint32(msg)); errno < 0 {
					return socks, false, fmt.Errorf("sock_diag: %w", unix.Errno(-errno))
				}
			}
			return socks, true, nil
		case sockDiagByFamily:
			sk, ok := diagSock(msg, t)
			if !ok {
				continue
			}
			if len(socks) >= maxTableLines {
				return socks, false, errDiagTooMany
			}
			socks = append(socks, sk)
		}
	}
	return socks, false, nil
}

// diagSock reads one struct inet_diag_msg; ok is false for a socket that does not listen
// (a UDP socket with a peer, or one not bound to a port) or a message too short to be one.
func diagSock(m []byte, t table) (sock, bool) {
	if len(m) < diagMsgLen {
		return sock{}, false
	}
	sport := binary.BigEndian.Uint16(m[4:])
	dport := binary.BigEndian.Uint16(m[6:])
	if sport == 0 || dport != 0 {
		return sock{}, false
	}
	var addr netip.Addr
	switch m[0] {
	case unix.AF_INET:
		addr = netip.AddrFrom4([4]byte(m[8:12]))
	case unix.AF_INET6:
		addr = netip.AddrFrom16([16]byte(m[8:24]))
	default:
		return sock{}, false
	}
	return sock{proto: t.proto, addr: addr, port: sport, inode: uint64(binary.NativeEndian.Uint32(m[68:]))}, true
}
