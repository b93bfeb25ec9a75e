// Package ports lists the host's listening sockets: TCP sockets in the LISTEN state and UDP
// sockets bound without a peer, with the process that owns each and that process's systemd
// unit.
//
// It asks the kernel's sock_diag netlink interface for the listening sockets when the agent
// is in PID 1's network namespace (as ss does: reading the tables below costs milliseconds of
// kernel time on a host with much memory, sock_diag microseconds). Otherwise, or when
// sock_diag fails, it reads, under the host root:
//
//	/proc/1/net/{tcp,tcp6,udp,udp6}   the socket tables of PID 1's network namespace, which is
//	                                  the host's whenever /proc is the host's (the agent in a
//	                                  container with hostPID sees them without hostNetwork);
//	/proc/net/{tcp,tcp6,udp,udp6}     the reading process's own namespace, when PID 1's tables
//	                                  are not readable;
//	/proc/<pid>/fd/*                  links "socket:[inode]" to find the owning process, read
//	                                  as links and never followed;
//	/proc/<pid>/comm, /proc/<pid>/cgroup   the owner's name and systemd unit.
//
// A process whose descriptors cannot be read (another user's, when not root) is counted in
// Result.Skipped; sockets no readable process owns are listed with PID 0. Sockets with the same
// protocol, address and port (a socket shared by pre-forked workers, or SO_REUSEPORT groups)
// are listed once, with the lowest owning PID.
package ports

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// maxLine bounds one line of a socket table; real lines are under 200 bytes.
const maxLine = 4096

// maxTableLines bounds how many lines of one socket table are read, a few million
// connections' worth.
const maxTableLines = 4 << 20

// TCP states as the kernel prints them (include/net/tcp_states.h).
const (
	stateClose  = "07"
	stateListen = "0A"
)

// errMalformed marks a socket table line that does not parse.
var errMalformed = errors.New("malformed socket table line")

// Source lists listening sockets.
type Source struct {
	root hostfs.Root
	via  string // how the last pass listed the sockets: "sock_diag" or the tables' directory
	// tablesOnly reads the socket tables even where sock_diag answers (tests compare both).
	tablesOnly bool
}

// New returns a ports source reading under root.
func New(root hostfs.Root) *Source {
	if root == "" {
		root = "/"
	}
	return &Source{root: root}
}

// Name returns "ports".
func (s *Source) Name() string { return "ports" }

// Produces implements source.Producer.
func (*Source) Produces() source.Parts { return source.PartListeners }

// table is one socket table file.
type table struct {
	file  string // "tcp", "tcp6", "udp", "udp6"
	proto string // the Listener protocol
	udp   bool
}

// tables returns the socket tables in the order they are read.
func tables() [4]table {
	return [4]table{{"tcp", "tcp", false}, {"tcp6", "tcp6", false}, {"udp", "udp", true}, {"udp6", "udp6", true}}
}

// sock is one listening socket from a table.
type sock struct {
	proto string
	addr  netip.Addr
	port  uint16
	inode uint64
}

// Collect lists the listening sockets.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	socks, skipped, err := s.readTables()
	res.Skipped += skipped
	if err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	owners := make(map[uint64]int, len(socks))
	for _, sk := range socks {
		if sk.inode != 0 {
			owners[sk.inode] = 0
		}
	}
	unreadable, err := s.findOwners(ctx, owners)
	res.Skipped += unreadable
	if err != nil {
		return res, err
	}

	type procInfo struct{ comm, unit string }
	procs := make(map[int]procInfo)
	res.Listeners = make([]model.Listener, 0, len(socks))
	for _, sk := range socks {
		l := model.Listener{Protocol: sk.proto, Address: sk.addr.String(), Port: sk.port, PID: owners[sk.inode]}
		if l.PID != 0 {
			p, ok := procs[l.PID]
			if !ok {
				p = procInfo{s.comm(l.PID), s.unit(l.PID)}
				procs[l.PID] = p
			}
			l.Process, l.Unit = p.comm, p.unit
		}
		res.Listeners = append(res.Listeners, l)
	}
	res.Listeners = dedup(res.Listeners)
	return res, nil
}

// dedup sorts listeners by protocol, port and address and keeps one per socket address: the
// one with the lowest PID, a known owner before an unknown one.
func dedup(ls []model.Listener) []model.Listener {
	slices.SortFunc(ls, func(a, b model.Listener) int {
		return cmp.Or(
			strings.Compare(a.Protocol, b.Protocol),
			cmp.Compare(a.Port, b.Port),
			strings.Compare(a.Address, b.Address),
			cmp.Compare(pidOrder(a.PID), pidOrder(b.PID)),
		)
	})
	return slices.CompactFunc(ls, func(a, b model.Listener) bool {
		return a.Protocol == b.Protocol && a.Port == b.Port && a.Address == b.Address
	})
}

// pidOrder sorts PID 0 (owner unknown) after every real PID.
func pidOrder(pid int) uint64 {
	if pid == 0 {
		return 1 << 63
	}
	return uint64(pid)
}

// readTables lists the listening sockets of the four socket tables: by sock_diag when the
// agent is in PID 1's network namespace (see diag_linux.go), else from the tables of PID 1's
// namespace, or of the reader's own when PID 1's cannot be read. A sock_diag that fails (a
// kernel without it, a seccomp filter) is answered from the tables too. It returns
// ErrNotPresent when there is no socket table at all.
func (s *Source) readTables() ([]sock, int, error) {
	if !s.tablesOnly && s.diagUsable() {
		if socks, err := diagSockets(); err == nil {
			s.via = "sock_diag"
			return socks, 0, nil
		}
	}
	var (
		socks   []sock
		skipped int
		found   bool
		buf     = make([]byte, maxLine)
	)
	dir := "/proc/1/net"
	if _, err := os.Stat(s.root.Path(dir + "/tcp")); err != nil {
		dir = "/proc/net"
	}
	for _, t := range tables() {
		p := dir + "/" + t.file
		f, err := os.Open(s.root.Path(p))
		if err != nil {
			if hostfs.NotPresent(err) {
				continue // no IPv6, or no UDP: nothing of that kind listens
			}
			return socks, skipped, fmt.Errorf("%s: %w", p, err)
		}
		found = true
		var n int
		socks, n, err = parseTable(f, t, socks, buf)
		f.Close()
		skipped += n
		if err != nil {
			return socks, skipped, fmt.Errorf("%s: %w", p, err)
		}
	}
	if !found {
		return nil, 0, fmt.Errorf("%s: socket tables: %w", dir, source.ErrNotPresent)
	}
	s.via = dir
	return socks, skipped, nil
}

// reader is the part of *os.File parseTable needs.
type reader interface{ Read([]byte) (int, error) }

// parseTable appends the listening sockets of one socket table to socks, with buf as the line
// buffer, and returns how many malformed lines it skipped.
func parseTable(r reader, t table, socks []sock, buf []byte) ([]sock, int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(buf, maxLine)
	skipped := 0
	for n := 0; sc.Scan(); n++ {
		if n == 0 {
			continue // the header
		}
		if n > maxTableLines {
			return socks, skipped, fmt.Errorf("more than %d lines", maxTableLines)
		}
		sk, ok, err := parseLine(sc.Bytes(), t)
		switch {
		case err != nil:
			skipped++
		case ok:
			socks = append(socks, sk)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return socks, skipped + 1, fmt.Errorf("line longer than %d bytes", maxLine)
		}
		return socks, skipped, err
	}
	return socks, skipped, nil
}

// parseLine parses one socket table line; ok is false for a socket that does not listen.
func parseLine(line []byte, t table) (sk sock, ok bool, err error) {
	// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
	var f [10][]byte
	rest := line
	for i := range f {
		f[i], rest = field(rest)
		if f[i] == nil {
			return sk, false, errMalformed
		}
	}
	st := string(f[3])
	switch {
	case len(st) != 2:
		return sk, false, errMalformed
	case !t.udp && st != stateListen, t.udp && st != stateClose:
		if !isHexString(f[3]) {
			return sk, false, errMalformed
		}
		return sk, false, nil
	}
	addr, port, err := parseAddr(f[1])
	if err != nil {
		return sk, false, err
	}
	if _, rport, err := parseAddr(f[2]); err != nil {
		return sk, false, err
	} else if rport != 0 || port == 0 {
		return sk, false, nil // a UDP socket with a peer, or one not bound to a port
	}
	inode, err := strconv.ParseUint(string(f[9]), 10, 64)
	if err != nil {
		return sk, false, errMalformed
	}
	return sock{proto: t.proto, addr: addr, port: port, inode: inode}, true, nil
}

// field returns the first space-separated field of b and the rest, nil when there is none.
func field(b []byte) (f, rest []byte) {
	i := 0
	for i < len(b) && b[i] == ' ' {
		i++
	}
	j := i
	for j < len(b) && b[j] != ' ' {
		j++
	}
	if i == j {
		return nil, nil
	}
	return b[i:j], b[j:]
}

// parseAddr decodes the kernel's "ADDR:PORT" hex form. The address is the in-memory (network
// order) bytes printed as host-order 32-bit words: one for IPv4, four for IPv6. The port is
// printed as a number.
func parseAddr(b []byte) (netip.Addr, uint16, error) {
	colon := bytes.IndexByte(b, ':')
	if colon < 0 || len(b)-colon-1 != 4 {
		return netip.Addr{}, 0, errMalformed
	}
	port, ok := hexUint(b[colon+1:])
	if !ok {
		return netip.Addr{}, 0, errMalformed
	}
	hex := b[:colon]
	switch len(hex) {
	case 8:
		w, ok := hexUint(hex)
		if !ok {
			return netip.Addr{}, 0, errMalformed
		}
		var a [4]byte
		binary.NativeEndian.PutUint32(a[:], uint32(w))
		return netip.AddrFrom4(a), uint16(port), nil
	case 32:
		var a [16]byte
		for i := 0; i < 4; i++ {
			w, ok := hexUint(hex[8*i : 8*i+8])
			if !ok {
				return netip.Addr{}, 0, errMalformed
			}
			binary.NativeEndian.PutUint32(a[4*i:], uint32(w))
		}
		return netip.AddrFrom16(a), uint16(port), nil
	}
	return netip.Addr{}, 0, errMalformed
}

// hexUint parses up to 16 hex digits.
func hexUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		d, ok := hexDigit(c)
		if !ok {
			return 0, false
		}
		v = v<<4 | uint64(d)
	}
	return v, true
}

func isHexString(b []byte) bool {
	for _, c := range b {
		if _, ok := hexDigit(c); !ok {
			return false
		}
	}
	return true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// comm returns the process name of pid, empty when it cannot be read.
func (s *Source) comm(pid int) string {
	// Any user names their processes as they like (a binary named with an escape
	// sequence, prctl): the name arrives escaped, never as raw bytes.
	b := s.readProc(pid, "comm", 64)
	return source.Text(bytes.TrimRight(b, "\n"), protocol.MaxNameLen)
}

// unit returns the systemd unit of pid, empty when it has none or it cannot be read.
func (s *Source) unit(pid int) string {
	return unitFromCgroup(s.readProc(pid, "cgroup", 64<<10))
}

// readProc reads /proc/<pid>/<name> under the root, nil on any error (the process may have
// exited).
func (s *Source) readProc(pid int, name string, max int64) []byte {
	p := "/proc/" + strconv.Itoa(pid) + "/" + name
	f, err := os.Open(s.root.Path(p))
	if err != nil {
		return nil
	}
	defer f.Close()
	b, err := hostfs.ReadAll(f, p, max)
	if err != nil {
		return nil
	}
	return b
}

// unitFromCgroup returns the systemd unit of a /proc/<pid>/cgroup file: from the cgroup v2
// line ("0::/system.slice/nginx.service"), else the v1 "name=systemd" line, the last path
// element under system.slice that names a service, socket or scope unit.
func unitFromCgroup(b []byte) string {
	var v1 string
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		id, rest, ok := strings.Cut(string(line), ":")
		if !ok {
			continue
		}
		controllers, path, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		switch {
		case id == "0" && controllers == "":
			if u := unitOfPath(path); u != "" {
				return u
			}
		case controllers == "name=systemd" && v1 == "":
			v1 = unitOfPath(path)
		}
	}
	return v1
}

// unitOfPath returns the last element of a cgroup path below system.slice that ends in
// .service, .socket or .scope.
func unitOfPath(p string) string {
	under := false
	unit := ""
	for elem := range strings.SplitSeq(p, "/") {
		if elem == "system.slice" {
			under = true
			continue
		}
		if under && (strings.HasSuffix(elem, ".service") || strings.HasSuffix(elem, ".socket") || strings.HasSuffix(elem, ".scope")) &&
			!strings.HasPrefix(elem, ".") {
			unit = elem
		}
	}
	return unit
}
