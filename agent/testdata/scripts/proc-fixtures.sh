#!/bin/sh
# Builds the proc/ trees of the debian12 and rocky9 fixture roots: the kernel's socket tables
# (proc/1/net/* on debian12, proc/net/* on rocky9) written in the exact printf formats of
# Linux 6.1 / 5.14 (net/ipv4/tcp_ipv4.c, tcp_ipv6.c, udp.c, ipv6/datagram.c), and, for each
# process, proc/<pid>/comm, proc/<pid>/cgroup (cgroup v2) and proc/<pid>/fd/ with the
# "socket:[inode]", "pipe:[inode]" and device links the kernel shows.
# Needs python3. Run from the repository root: sh agent/testdata/scripts/proc-fixtures.sh.
# It is idempotent: it rewrites only the files it owns (net tables, comm, cgroup, fd/) and
# leaves the rest of proc/ (other sources' fixtures) alone.
set -eu
exec python3 - "$(pwd)/agent/testdata/roots" <<'PY'
import os, shutil, socket, struct, sys

roots = sys.argv[1]
V4_TCP_HDR = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
V6_TCP_HDR = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
V4_UDP_HDR = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops"
V6_UDP_HDR = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops"

def a4(ip):
    # The kernel prints the __be32 address as a host-order (little-endian here) integer.
    return "%08X" % struct.unpack("<I", socket.inet_pton(socket.AF_INET, ip))[0]

def a6(ip):
    b = socket.inet_pton(socket.AF_INET6, ip)
    return "".join("%08X" % struct.unpack("<I", b[i:i + 4])[0] for i in range(0, 16, 4))

def tcp4(rows):
    out = [V4_TCP_HDR.ljust(149)]
    for sl, (l, lp, r, rp, st, uid, ino) in enumerate(rows):
        tm = "00:00000000" if st != 0x01 else "02:000A7E1D"
        s = "%4d: %s:%04X %s:%04X %02X %08X:%08X %s %08X %5u %8d %d %d %s %d %d %d %d %d" % (
            sl, a4(l), lp, a4(r), rp, st, 0, 0, tm, 0, uid, 0, ino, 1 if ino else 0,
            "0000000000000000", 100 if ino else 0, 0, 0, 10, -1 if st == 0x0A else 0)
        out.append(s.ljust(149))
    return "\n".join(out) + "\n"

def tcp6(rows):
    out = [V6_TCP_HDR]
    for sl, (l, lp, r, rp, st, uid, ino) in enumerate(rows):
        tm = "00:00000000" if st != 0x01 else "02:000A7E1D"
        out.append("%4d: %s:%04X %s:%04X %02X %08X:%08X %s %08X %5u %8d %d %d %s %d %d %d %d %d" % (
            sl, a6(l), lp, a6(r), rp, st, 0, 0, tm, 0, uid, 0, ino, 1,
            "0000000000000000", 100, 0, 0, 10, -1 if st == 0x0A else 0))
    return "\n".join(out) + "\n"

def udp4(rows):
    out = [V4_UDP_HDR.ljust(127)]
    for sl, (l, lp, r, rp, st, uid, ino) in enumerate(rows):
        s = "%5d: %s:%04X %s:%04X %02X %08X:%08X 00:00000000 %08X %5u %8d %d %d %s %u" % (
            sl, a4(l), lp, a4(r), rp, st, 0, 0, 0, uid, 0, ino, 2, "0000000000000000", 0)
        out.append(s.ljust(127))
    return "\n".join(out) + "\n"

def udp6(rows):
    out = [V6_UDP_HDR]
    for sl, (l, lp, r, rp, st, uid, ino) in enumerate(rows):
        out.append("%5d: %s:%04X %s:%04X %02X %08X:%08X 00:00000000 %08X %5u %8d %d %d %s %u" % (
            sl, a6(l), lp, a6(r), rp, st, 0, 0, 0, uid, 0, ino, 2, "0000000000000000", 0))
    return "\n".join(out) + "\n"

def build(name, netdir, tables, procs):
    proc = os.path.join(roots, name, "proc")
    # Remove only what this script writes: proc/ holds other sources' fixtures too.
    for d in ("net", "1/net"):
        shutil.rmtree(os.path.join(proc, d), ignore_errors=True)
    for pid in [e for e in os.listdir(proc) if e.isdigit()] if os.path.isdir(proc) else []:
        for f in ("comm", "cgroup"):
            try:
                os.remove(os.path.join(proc, pid, f))
            except FileNotFoundError:
                pass
        shutil.rmtree(os.path.join(proc, pid, "fd"), ignore_errors=True)
        try:
            os.rmdir(os.path.join(proc, pid))
        except OSError:
            pass  # holds other files
    nd = os.path.join(proc, netdir)
    os.makedirs(nd)
    for f, fmt in (("tcp", tcp4), ("tcp6", tcp6), ("udp", udp4), ("udp6", udp6)):
        with open(os.path.join(nd, f), "w") as fh:
            fh.write(fmt(tables[f]))
    for pid, comm, cgroup, fds in procs:
        d = os.path.join(proc, str(pid))
        os.makedirs(os.path.join(d, "fd"), exist_ok=True)
        with open(os.path.join(d, "comm"), "w") as fh:
            fh.write(comm + "\n")
        with open(os.path.join(d, "cgroup"), "w") as fh:
            fh.write(cgroup)
        for fd, target in fds:
            os.symlink(target, os.path.join(d, "fd", str(fd)))

def std(*socks, base=3):
    # stdin on /dev/null, stdout and stderr on a journal stream socket, then the given links.
    fds = [(0, "/dev/null"), (1, "socket:[17001]"), (2, "socket:[17001]")]
    return fds + [(base + i, t) for i, t in enumerate(socks)]

V2 = "0::%s\n"
LISTEN, CLOSE, ESTAB, TIME_WAIT = 0x0A, 0x07, 0x01, 0x06

# Debian 12: ssh, nginx (master and two workers sharing its sockets), PostgreSQL 15, exim4,
# Tomcat on an IPv4-mapped IPv6 address, dhclient, the kernel's nfsd (no process) and
# systemd holding a socket-activated rpcbind socket it shares with rpcbind.
build("debian12", "1/net", {
    "tcp": [
        ("0.0.0.0", 22, "0.0.0.0", 0, LISTEN, 0, 18304),
        ("0.0.0.0", 80, "0.0.0.0", 0, LISTEN, 0, 19120),
        ("0.0.0.0", 443, "0.0.0.0", 0, LISTEN, 0, 19121),
        ("127.0.0.1", 5432, "0.0.0.0", 0, LISTEN, 104, 19877),
        ("127.0.0.1", 25, "0.0.0.0", 0, LISTEN, 0, 20315),
        ("0.0.0.0", 111, "0.0.0.0", 0, LISTEN, 0, 15560),
        ("0.0.0.0", 2049, "0.0.0.0", 0, LISTEN, 0, 0),
        ("192.168.122.20", 22, "192.168.122.1", 53422, ESTAB, 0, 31337),
        ("192.168.122.20", 443, "203.0.113.7", 61144, TIME_WAIT, 0, 0),
    ],
    "tcp6": [
        ("::", 22, "::", 0, LISTEN, 0, 18306),
        ("::", 80, "::", 0, LISTEN, 0, 19122),
        ("::1", 5432, "::", 0, LISTEN, 104, 19876),
        ("::1", 25, "::", 0, LISTEN, 0, 20316),
        ("::ffff:127.0.0.1", 8080, "::", 0, LISTEN, 997, 22410),
        ("::", 111, "::", 0, LISTEN, 0, 15562),
    ],
    "udp": [
        ("0.0.0.0", 68, "0.0.0.0", 0, CLOSE, 0, 16021),
        ("0.0.0.0", 111, "0.0.0.0", 0, CLOSE, 0, 15561),
        ("192.168.122.20", 39421, "192.0.2.123", 123, ESTAB, 998, 21220),
    ],
    "udp6": [
        ("::", 111, "::", 0, CLOSE, 0, 15563),
    ],
}, [
    (1, "systemd", V2 % "/init.scope", std("socket:[15560]", "socket:[15561]", "socket:[15562]", "socket:[15563]", "anon_inode:[eventpoll]", "/dev/kmsg")),
    (388, "dhclient", V2 % "/system.slice/ifup@enp1s0.service", std("socket:[16020]", "socket:[16021]", "/var/lib/dhcp/dhclient.enp1s0.leases")),
    (402, "rpcbind", V2 % "/system.slice/rpcbind.service", std("socket:[15560]", "socket:[15561]", "socket:[15562]", "socket:[15563]")),
    (512, "systemd-timesyn", V2 % "/system.slice/systemd-timesyncd.service", std("anon_inode:[eventpoll]", "socket:[21220]")),
    (598, "sshd", V2 % "/system.slice/ssh.service", std("socket:[18304]", "socket:[18306]")),
    (655, "postgres", V2 % "/system.slice/system-postgresql.slice/postgresql@15-main.service", std("socket:[19876]", "socket:[19877]", "pipe:[19880]")),
    (701, "nginx", V2 % "/system.slice/nginx.service", std("/var/log/nginx/error.log", "socket:[19120]", "socket:[19121]", "socket:[19122]")),
    (702, "nginx", V2 % "/system.slice/nginx.service", std("/var/log/nginx/error.log", "socket:[19120]", "socket:[19121]", "socket:[19122]", "anon_inode:[eventpoll]")),
    (703, "nginx", V2 % "/system.slice/nginx.service", std("/var/log/nginx/error.log", "socket:[19120]", "socket:[19121]", "socket:[19122]", "anon_inode:[eventpoll]")),
    (1012, "exim4", V2 % "/system.slice/exim4.service", std("socket:[20315]", "socket:[20316]")),
    (1201, "java", V2 % "/system.slice/tomcat10.service", std("/usr/share/tomcat10/lib/catalina.jar", "socket:[22410]")),
    (1833, "sshd", V2 % "/system.slice/ssh.service", std("socket:[31337]")),
])

# Rocky Linux 9: sshd, chronyd, nginx, PostgreSQL 13, and a user's development server in a
# session scope (not a system service).
build("rocky9", "net", {
    "tcp": [
        ("0.0.0.0", 22, "0.0.0.0", 0, LISTEN, 0, 24518),
        ("0.0.0.0", 80, "0.0.0.0", 0, LISTEN, 0, 25102),
        ("127.0.0.1", 5432, "0.0.0.0", 0, LISTEN, 26, 25480),
        ("0.0.0.0", 8000, "0.0.0.0", 0, LISTEN, 1000, 41870),
        ("10.0.2.15", 22, "10.0.2.2", 50514, ESTAB, 0, 40112),
    ],
    "tcp6": [
        ("::", 22, "::", 0, LISTEN, 0, 24520),
        ("::", 80, "::", 0, LISTEN, 0, 25103),
        ("::1", 5432, "::", 0, LISTEN, 26, 25479),
    ],
    "udp": [
        ("127.0.0.1", 323, "0.0.0.0", 0, CLOSE, 0, 21544),
    ],
    "udp6": [
        ("::1", 323, "::", 0, CLOSE, 0, 21545),
    ],
}, [
    (1, "systemd", V2 % "/init.scope", std("anon_inode:[eventpoll]", "/dev/kmsg")),
    (712, "chronyd", V2 % "/system.slice/chronyd.service", std("socket:[21544]", "socket:[21545]", "/run/chrony/chronyd.pid")),
    (1034, "sshd", V2 % "/system.slice/sshd.service", std("socket:[24518]", "socket:[24520]")),
    (1080, "postmaster", V2 % "/system.slice/postgresql.service", std("socket:[25479]", "socket:[25480]", "pipe:[25490]")),
    (1101, "nginx", V2 % "/system.slice/nginx.service", std("socket:[25102]", "socket:[25103]")),
    (1102, "nginx", V2 % "/system.slice/nginx.service", std("socket:[25102]", "socket:[25103]", "anon_inode:[eventpoll]")),
    (2290, "python3", V2 % "/user.slice/user-1000.slice/session-3.scope", std("socket:[41870]")),
])
PY
