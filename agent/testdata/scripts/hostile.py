#!/usr/bin/env python3
"""Writes the hostile fixture root (agent/testdata/roots/hostile): a Debian host on which local
users and packages put every byte they can in what onus-agent reads.

  var/lib/dpkg/status   ESC and BEL in a Description, DEL and Latin-1 in a Maintainer, an
                        over-long Description, invalid UTF-8 in a Section, a stanza without a
                        Package name (dpkg would not write one; a damaged file can hold it)
  etc/os-release        ESC, DEL, C1 and invalid UTF-8 in its values
  etc/hostname          an escape sequence
  etc/systemd/system    a unit whose Description holds ESC, enabled through
                        multi-user.target.wants (the tests add one named with systemd's \\x2d
                        escape: a backslash cannot be in a committed file name)
  proc/1/mountinfo      mount points with a newline, an ESC and a Latin-1 byte, in the kernel's
                        octal escapes (\\012, \\033, \\351)
  proc/cpuinfo          a model name with ESC
  proc/1/net/tcp        two listening sockets, owned by processes whose comm holds an escape
  proc/<pid>/           sequence and invalid UTF-8 (any user can name a binary so and run it)

The dpkg status is written in dpkg's own format (stanzas as dpkg writes them), not by dpkg:
dpkg's tools do not build packages with these bytes. The kernel files are written in the
kernel's formats, as hostfacts.py and proc-fixtures.sh do for the other roots.
Run: python3 agent/testdata/scripts/hostile.py (idempotent: it rewrites the whole root).
"""
import os
import shutil
import socket
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "roots", "hostile")

ESC = b"\x1b"


def write(rel, data, mode=0o644):
    p = os.path.join(ROOT, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    os.chmod(p, mode)


def a4(ip):
    return "%08X" % struct.unpack("<I", socket.inet_pton(socket.AF_INET, ip))[0]


shutil.rmtree(ROOT, ignore_errors=True)
os.makedirs(ROOT)

write("etc/machine-id", b"0badc0de0badc0de0badc0de0badc0de\n")
write("etc/hostname", b"evil" + ESC + b"[31mhost\n")
write("etc/os-release",
      b'PRETTY_NAME="Debian GNU/Linux 12 ' + ESC + b'[2J(bookworm)"\n'
      b'NAME="Debian\x7f GNU/Linux"\n'
      b'VERSION_ID="12"\n'
      b'VERSION="12 (book\xc2\x85worm)"\n'
      b'ID=debian\n'
      b'ID_LIKE="caf\xe9"\n')

status = [
    # A well-formed package, the control.
    b"""Package: base-files
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 341
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Multi-Arch: foreign
Version: 12.4+deb12u5
Description: Debian base system miscellaneous files
""",
    b"""Package: evil-desc
Status: install ok installed
Priority: optional
Section: utils
Installed-Size: 10
Maintainer: Mallory <mallory@example.com>
Architecture: amd64
Version: 1.0-1
Description: clears your terminal """ + ESC + b"""[2J""" + ESC + b"""]0;owned\x07
 A long description that also rings the bell\x07.
""",
    b"""Package: evil-maint
Status: install ok installed
Priority: optional
Section: caf\xe9
Installed-Size: 10
Maintainer: Ren\xe9 D\x7fupont <rene@example.com>
Architecture: amd64
Version: 2.0-1
Description: maintained by someone with a DEL in his name
""",
    b"""Package: evil-long
Status: install ok installed
Priority: optional
Section: misc
Installed-Size: 10
Maintainer: Mallory <mallory@example.com>
Architecture: amd64
Version: 3.0-1
Description: """ + "é".encode() * 3000 + b"""
""",
    # No Package field: skipped and counted by the dpkg source, never sent without a name.
    b"""Status: install ok installed
Maintainer: Nobody <nobody@example.com>
Architecture: amd64
Version: 0.1
Description: a stanza without a name
""",
]
write("var/lib/dpkg/status", b"\n".join(status))
# dpkg dates a package by its file list; git keeps no modification times, so they are
# recorded in roots/hostile.mtimes, which the tests apply again.
mtimes = []
for i, name in enumerate(("base-files", "evil-desc", "evil-maint", "evil-long")):
    rel = "var/lib/dpkg/info/%s.list" % name
    write(rel, b"/.\n/usr/share/doc/%s\n" % name.encode())
    t = 1718007242 + 60 * i  # 2024-06-10 08:14:02 UTC and the minutes after
    os.utime(os.path.join(ROOT, rel), (t, t))
    mtimes.append("%s %d\n" % (rel, t))
with open(ROOT + ".mtimes", "w") as f:
    f.writelines(mtimes)

# A unit named with systemd's escape ("evil\x2dname.service") cannot be committed: Go module
# zips refuse a backslash in a file name. The tests that need one write it into their copy
# of this root; this unit has the hostile Description.
unit = "evil-daemon.service"
write("etc/systemd/system/" + unit,
      b"[Unit]\nDescription=Evil " + ESC + b"[31mred" + ESC + b"[0m daemon\n\n"
      b"[Service]\nExecStart=/usr/bin/evil\n\n[Install]\nWantedBy=multi-user.target\n")
os.makedirs(os.path.join(ROOT, "etc/systemd/system/multi-user.target.wants"), exist_ok=True)
os.symlink("/etc/systemd/system/" + unit, os.path.join(ROOT, "etc/systemd/system/multi-user.target.wants", unit))

write("proc/1/mountinfo",
      b"22 28 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
      b"23 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
      b"28 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
      b"45 28 254:17 / /mnt/new\\012line rw,relatime shared:27 - ext4 /dev/vdb1 rw\n"
      b"46 28 254:18 / /mnt/\\033[31mred rw,relatime shared:28 - ext4 /dev/vdc1 rw\n"
      b"47 28 254:19 / /srv/caf\\351 rw,relatime shared:29 - xfs /dev/vdd1 rw\n")
write("proc/stat", b"cpu  1 0 1 100 0 0 0 0 0 0\nbtime 1718006400\n")
write("proc/meminfo", b"MemTotal:        8048228 kB\nMemAvailable:    6011220 kB\nSwapTotal:       1000000 kB\nSwapFree:         900000 kB\n")
write("proc/cpuinfo",
      b"processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) " + ESC + b"[5mXeon\n"
      b"physical id\t: 0\ncore id\t\t: 0\ncpu cores\t: 1\n\n")
write("proc/sys/kernel/osrelease", b"6.1.0-21-amd64\n")

# Two processes listening on 127.0.0.1, each named by its user: comm is the first 15 bytes
# of the binary's file name.
V4_TCP_HDR = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
rows = [(4444, 44440, 1001), (4445, 44450, 1002)]
tcp = [V4_TCP_HDR.ljust(149)]
for sl, (port, ino, uid) in enumerate(rows):
    tcp.append(("%4d: %s:%04X %s:%04X %02X %08X:%08X 00:00000000 %08X %5u %8d %d %d %s %d %d %d %d %d" % (
        sl, a4("127.0.0.1"), port, a4("0.0.0.0"), 0, 0x0A, 0, 0, 0, uid, 0, ino, 1,
        "0000000000000000", 100, 0, 0, 10, -1)).ljust(149))
write("proc/1/net/tcp", ("\n".join(tcp) + "\n").encode())
for name in ("tcp6", "udp", "udp6"):
    write("proc/1/net/" + name, (V4_TCP_HDR + "\n").encode())
procs = {
    4444: (b"\x1b[31mevil\x1b[0m\n", b"./\x1b[31mevil\x1b[0m\x00--port\x004444\x00", 44440),
    4445: (b"d\xe6mon\xff\n", b"./d\xe6mon\xff\x00", 44450),
}
for pid, (comm, cmdline, ino) in procs.items():
    write("proc/%d/comm" % pid, comm)
    write("proc/%d/cmdline" % pid, cmdline)
    write("proc/%d/cgroup" % pid, b"0::/user.slice/user-1001.slice/session-3.scope\n")
    os.makedirs(os.path.join(ROOT, "proc/%d/fd" % pid), exist_ok=True)
    os.symlink("/dev/null", os.path.join(ROOT, "proc/%d/fd/0" % pid))
    os.symlink("socket:[%d]" % ino, os.path.join(ROOT, "proc/%d/fd/3" % pid))
