#!/usr/bin/env python3
"""Writes the host-fact files of the fixture roots: os-release, machine-id, hostname, hosts,
/proc/{cpuinfo,meminfo,stat,filesystems,cmdline,1/mountinfo,1/environ,sys/kernel/*} and
/sys/{class/dmi/id,devices/system/clocksource}. No tool writes another machine's /proc and /sys,
so these are written in the kernel's own formats, copied from real machines of each kind:
  debian12   a KVM guest (QEMU machine type, as Proxmox or libvirt make them)
  rocky9     a VMware guest
  alpine3    a Docker container on bare metal (overlay root, /.dockerenv)
  arch       a physical Dell server
  opensuse15 a Hyper-V guest whose machine-id is unset, identified by its SMBIOS UUID
  centos7    a Xen guest
Run: python3 agent/testdata/scripts/hostfacts.py (idempotent).
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOTS = os.path.join(HERE, "..", "roots")

OS_RELEASE = {
    "debian12": '''PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
''',
    "rocky9": '''NAME="Rocky Linux"
VERSION="9.4 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"
ANSI_COLOR="0;32"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:rocky:rocky:9::baseos"
HOME_URL="https://rockylinux.org/"
BUG_REPORT_URL="https://bugs.rockylinux.org/"
SUPPORT_END="2032-05-31"
ROCKY_SUPPORT_PRODUCT="Rocky-Linux-9"
ROCKY_SUPPORT_PRODUCT_VERSION="9.4"
REDHAT_SUPPORT_PRODUCT="Rocky Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.4"
''',
    "alpine3": '''NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.20.3
PRETTY_NAME="Alpine Linux v3.20"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
''',
    "arch": '''NAME="Arch Linux"
PRETTY_NAME="Arch Linux"
ID=arch
BUILD_ID=rolling
ANSI_COLOR="38;2;23;147;209"
HOME_URL="https://archlinux.org/"
DOCUMENTATION_URL="https://wiki.archlinux.org/"
SUPPORT_URL="https://bbs.archlinux.org/"
BUG_REPORT_URL="https://gitlab.archlinux.org/groups/archlinux/-/issues"
PRIVACY_POLICY_URL="https://terms.archlinux.org/docs/privacy-policy/"
LOGO=archlinux-logo
''',
    "opensuse15": '''NAME="openSUSE Leap"
VERSION="15.6"
ID="opensuse-leap"
ID_LIKE="suse opensuse"
VERSION_ID="15.6"
PRETTY_NAME="openSUSE Leap 15.6"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:opensuse:leap:15.6"
BUG_REPORT_URL="https://bugs.opensuse.org"
HOME_URL="https://www.opensuse.org/"
DOCUMENTATION_URL="https://en.opensuse.org/Portal:Leap"
LOGO="distributor-logo-Leap"
''',
    "centos7": '''NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"
PRETTY_NAME="CentOS Linux 7 (Core)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:centos:centos:7"
HOME_URL="https://www.centos.org/"
BUG_REPORT_URL="https://bugs.centos.org/"
''',
}

HOSTS = {  # hostname, fqdn line in /etc/hosts, machine-id, kernel, arch
    "debian12": ("web-01", "10.20.0.11\tweb-01.prod.example.com web-01", "5c0f5d2e8f6a4b1c9e3d7a2b4c6d8e0f", "6.1.0-25-amd64", "x86_64"),
    "rocky9": ("db-01.prod.example.com", None, "b7e4a1c2d3f54e6a8b9c0d1e2f3a4b5c", "5.14.0-427.13.1.el9_4.x86_64", "x86_64"),
    "alpine3": ("3f9a1c2b7d4e", "172.17.0.2\t3f9a1c2b7d4e", "", "6.8.0-45-generic", "x86_64"),
    "arch": ("build-07", "127.0.1.1\tbuild-07.lab.example.com build-07", "0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a", "6.8.9-arch1-2", "x86_64"),
    "opensuse15": ("sap-02", None, "uninitialized", "6.4.0-150600.23.22-default", "x86_64"),
    "centos7": ("legacy-03", "192.168.10.3 legacy-03.corp.example.com legacy-03", "8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d", "3.10.0-1160.119.1.el7.x86_64", "x86_64"),
}

DMI = {
    "debian12": {"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)", "bios_vendor": "SeaBIOS",
                 "product_uuid": "3a6b1e2c-4d5f-4e7a-9b8c-0d1e2f3a4b5c"},
    "rocky9": {"sys_vendor": "VMware, Inc.", "product_name": "VMware Virtual Platform", "bios_vendor": "Phoenix Technologies LTD",
               "board_vendor": "Intel Corporation", "product_uuid": "564d8f2a-3b1c-9e7d-5a4b-6c7d8e9f0a1b"},
    "arch": {"sys_vendor": "Dell Inc.", "product_name": "PowerEdge R640", "bios_vendor": "Dell Inc.", "board_vendor": "Dell Inc.",
             "product_uuid": "4c4c4544-0042-3910-8052-b4c04f4e5032"},
    "alpine3": {"sys_vendor": "Supermicro", "product_name": "SYS-1029P-WTR", "bios_vendor": "American Megatrends Inc."},
    "opensuse15": {"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine", "bios_vendor": "Microsoft Corporation",
                   "product_uuid": "7D2E5F3A-1B4C-4D6E-8F9A-0B1C2D3E4F5A"},
}

CPU = {  # model, sockets, cores per socket, threads per core, hypervisor flag, MHz
    "debian12": ("AMD EPYC 7543 32-Core Processor", 1, 4, 1, True, "2794.750"),
    "rocky9": ("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", 2, 2, 1, True, "2999.998"),
    "alpine3": ("Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz", 1, 2, 2, False, "2200.000"),
    "arch": ("Intel(R) Xeon(R) Gold 5218 CPU @ 2.30GHz", 2, 2, 2, False, "2300.000"),
    "opensuse15": ("Intel(R) Xeon(R) Platinum 8272CL CPU @ 2.60GHz", 1, 2, 1, True, "2593.906"),
    "centos7": ("Intel(R) Xeon(R) CPU E5-2676 v3 @ 2.40GHz", 1, 2, 1, True, "2400.052"),
}

MEM = {  # MemTotal, MemFree, MemAvailable, SwapTotal, SwapFree (kB)
    "debian12": (8131304, 1208440, 5632100, 1048572, 1048572),
    "rocky9": (32567604, 2048000, 20480312, 8388604, 8123004),
    "alpine3": (65690624, 30210048, 52004864, 0, 0),
    "arch": (196444800, 80123456, 150123456, 16777212, 16777212),
    "opensuse15": (16370176, 4096000, 10240512, 2097148, 2097148),
    "centos7": (3880788, 300120, 1980332, 0, 0),
}

MOUNTS = {
    "debian12": [
        "22 28 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw",
        "23 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw",
        "24 28 0:5 / /dev rw,nosuid,relatime shared:2 - devtmpfs udev rw,size=4036040k,nr_inodes=1009010,mode=755,inode64",
        "26 28 0:24 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=813132k,mode=755,inode64",
        "28 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro",
        "29 22 0:6 / /sys/kernel/security rw,nosuid,nodev,noexec,relatime shared:8 - securityfs securityfs rw",
        "31 22 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot",
        "45 28 254:17 / /var/lib/postgresql rw,relatime shared:27 - xfs /dev/vdb1 rw,attr2,inode64,logbufs=8,logbsize=32k,noquota",
        "46 28 254:2 / /boot/efi rw,relatime shared:29 - vfat /dev/vda2 rw,fmask=0077,dmask=0077,codepage=437,iocharset=ascii,shortname=mixed,utf8,errors=remount-ro",
        "47 28 0:45 / /mnt/backup rw,relatime shared:31 - nfs4 nas-01.prod.example.com:/export/backup rw,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,hard,proto=tcp,timeo=600,retrans=2,sec=sys",
        "48 28 254:17 /data /srv/data rw,relatime shared:27 - xfs /dev/vdb1 rw,attr2,inode64,logbufs=8,logbsize=32k,noquota",
        "49 26 0:46 / /run/user/1000 rw,nosuid,nodev,relatime shared:400 - tmpfs tmpfs rw,size=813128k,nr_inodes=203282,mode=700,uid=1000,gid=1000,inode64",
    ],
    "rocky9": [
        "22 1 253:0 / / rw,relatime shared:1 - xfs /dev/mapper/rl-root rw,seclabel,attr2,inode64,logbufs=8,logbsize=32k,noquota",
        "23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw",
        "24 22 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw,seclabel",
        "60 22 8:1 / /boot rw,relatime shared:30 - xfs /dev/sda1 rw,seclabel,attr2,inode64,logbufs=8,logbsize=32k,noquota",
        "61 22 253:2 / /home rw,relatime shared:31 - xfs /dev/mapper/rl-home rw,seclabel,attr2,inode64,logbufs=8,logbsize=32k,noquota",
        "62 22 253:3 / /var/lib/pgsql ro,relatime shared:32 - xfs /dev/mapper/data-pgsql ro,seclabel,attr2,inode64,logbufs=8,logbsize=32k,noquota",
        "70 22 0:50 / /var/lib/docker/overlay2/4f1e/merged rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/ABC,upperdir=/var/lib/docker/overlay2/4f1e/diff,workdir=/var/lib/docker/overlay2/4f1e/work",
    ],
    "alpine3": [
        "612 540 0:48 / / rw,relatime master:277 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/QW3ZK5:/var/lib/docker/overlay2/l/HJ2P4D,upperdir=/var/lib/docker/overlay2/8e1c/diff,workdir=/var/lib/docker/overlay2/8e1c/work",
        "613 612 0:51 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw",
        "614 612 0:52 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755,inode64",
        "620 612 0:49 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro",
        "625 612 259:2 /var/lib/docker/containers/3f9a1c2b7d4e/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/nvme0n1p2 rw",
        "626 612 259:2 /var/lib/docker/containers/3f9a1c2b7d4e/hostname /etc/hostname rw,relatime - ext4 /dev/nvme0n1p2 rw",
        "627 612 259:2 /srv/app-data /data rw,relatime - ext4 /dev/nvme0n1p2 rw",
    ],
    "arch": [
        "21 1 259:2 / / rw,noatime shared:1 - btrfs /dev/nvme0n1p2 rw,ssd,space_cache=v2,subvolid=256,subvol=/@",
        "22 21 0:20 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw",
        "40 21 259:1 / /boot rw,relatime shared:29 - vfat /dev/nvme0n1p1 rw,fmask=0022,dmask=0022,codepage=437,iocharset=ascii,shortname=mixed,utf8,errors=remount-ro",
        "41 21 259:2 /@home /home rw,noatime shared:30 - btrfs /dev/nvme0n1p2 rw,ssd,space_cache=v2,subvolid=257,subvol=/@home",
        "42 21 0:38 / /tmp rw,nosuid,nodev shared:31 - tmpfs tmpfs rw,size=98222400k,nr_inodes=1048576,inode64",
        "43 21 7:0 / /snap/core22/1380 ro,nodev,relatime shared:32 - squashfs /dev/loop0 ro,errors=continue,threads=single",
        "44 21 259:3 / /srv/builds rw,noatime shared:33 - ext4 /dev/nvme1n1p1 rw",
    ],
    "opensuse15": [
        "21 1 8:2 / / rw,relatime shared:1 - btrfs /dev/sda2 rw,space_cache,subvolid=268,subvol=/@/.snapshots/1/snapshot",
        "22 21 0:20 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw",
    ],
    "centos7": [
        "18 1 202:1 / / rw,relatime shared:1 - xfs /dev/xvda1 rw,attr2,inode64,noquota",
        "19 18 0:3 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw",
    ],
}

CLOCKSOURCE = {"debian12": "kvm-clock tsc acpi_pm ", "rocky9": "tsc hpet acpi_pm ", "arch": "tsc hpet acpi_pm ",
               "alpine3": "tsc hpet acpi_pm ", "opensuse15": "hyperv_clocksource_tsc_page acpi_pm ", "centos7": "xen tsc hpet acpi_pm "}

BTIME = {"debian12": 1731234567, "rocky9": 1729000000, "alpine3": 1730500000, "arch": 1731800000,
         "opensuse15": 1728000000, "centos7": 1700000000}

FLAGS = ("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx "
         "pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology cpuid pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic "
         "movbe popcnt aes xsave avx f16c rdrand{hv} lahf_lm abm 3dnowprefetch invpcid_single ssbd ibrs ibpb stibp fsgsbase "
         "bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed adx smap clflushopt clwb avx512cd avx512bw avx512vl "
         "xsaveopt xsavec xgetbv1 xsaves arat pku ospke md_clear flush_l1d arch_capabilities")


def write(root, rel, text, mode=0o644):
    path = os.path.join(ROOTS, root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def cpuinfo(name):
    model, sockets, cores, tpc, hv, mhz = CPU[name]
    out = []
    n = 0
    vendor = "AuthenticAMD" if "AMD" in model else "GenuineIntel"
    for s in range(sockets):
        for c in range(cores):
            for t in range(tpc):
                out.append(f"""processor\t: {n}
vendor_id\t: {vendor}
cpu family\t: {25 if vendor == 'AuthenticAMD' else 6}
model\t\t: {1 if vendor == 'AuthenticAMD' else 85}
model name\t: {model}
stepping\t: 1
microcode\t: 0x1000065
cpu MHz\t\t: {mhz}
cache size\t: 512 KB
physical id\t: {s}
siblings\t: {cores * tpc}
core id\t\t: {c}
cpu cores\t: {cores}
apicid\t\t: {n}
initial apicid\t: {n}
fpu\t\t: yes
fpu_exception\t: yes
cpuid level\t: 13
wp\t\t: yes
flags\t\t: {FLAGS.replace('{hv}', ' hypervisor' if hv else '')}
bugs\t\t: spectre_v1 spectre_v2 spec_store_bypass
bogomips\t: {float(mhz) * 2:.2f}
clflush size\t: 64
cache_alignment\t: 64
address sizes\t: 46 bits physical, 48 bits virtual
power management:
""")
                n += 1
    return "\n".join(out) + "\n", n


def main():
    for name in OS_RELEASE:
        host, hosts_line, mid, kernel, arch = HOSTS[name]
        # Debian and Arch keep os-release in /usr/lib with a link in /etc, as they ship it.
        if name in ("debian12", "arch"):
            write(name, "usr/lib/os-release", OS_RELEASE[name])
            link = os.path.join(ROOTS, name, "etc/os-release")
            os.makedirs(os.path.dirname(link), exist_ok=True)
            if os.path.lexists(link):
                os.remove(link)
            os.symlink("../usr/lib/os-release", link)
        else:
            write(name, "etc/os-release", OS_RELEASE[name])
        if mid:
            write(name, "etc/machine-id", mid + "\n", 0o444)
        write(name, "etc/hostname", host + "\n")
        hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        if hosts_line:
            hosts += hosts_line + "\n"
        write(name, "etc/hosts", hosts)
        write(name, "proc/sys/kernel/osrelease", kernel + "\n")
        write(name, "proc/sys/kernel/arch", arch + "\n")
        write(name, "proc/sys/kernel/hostname", host + "\n")
        text, n = cpuinfo(name)
        write(name, "proc/cpuinfo", text)
        cpus = "".join(f"cpu{i} 9932 0 9679 625343 59 0 130 0 0 0\n" for i in range(n))
        write(name, "proc/stat", f"cpu  21127 0 19516 1248389 506 0 337 0 0 0\n{cpus}intr 625505 0 0\nctxt 1065780\nbtime {BTIME[name]}\nprocesses 2041\nprocs_running 1\nprocs_blocked 0\nsoftirq 489516 0 93123 2 24006 0 0 1 164391 0 207993\n")
        total, free, avail, swt, swf = MEM[name]
        write(name, "proc/meminfo", f"""MemTotal:       {total} kB
MemFree:        {free} kB
MemAvailable:   {avail} kB
Buffers:          212344 kB
Cached:          {total // 4} kB
SwapCached:            0 kB
Active:          {total // 5} kB
Inactive:        {total // 6} kB
SwapTotal:      {swt} kB
SwapFree:       {swf} kB
Dirty:               120 kB
Shmem:             18332 kB
Slab:             302412 kB
SReclaimable:     214488 kB
""")
        write(name, "proc/filesystems", "".join(
            f"nodev\t{t}\n" for t in ["sysfs", "tmpfs", "bdev", "proc", "cgroup", "cgroup2", "cpuset", "devtmpfs", "debugfs",
                                     "tracefs", "securityfs", "sockfs", "bpf", "pipefs", "ramfs", "hugetlbfs", "devpts",
                                     "mqueue", "pstore", "autofs", "overlay", "nfs", "nfs4"])
            + "".join(f"\t{t}\n" for t in ["ext3", "ext2", "ext4", "squashfs", "vfat", "xfs", "btrfs", "fuseblk"]))
        write(name, "proc/1/mountinfo", "\n".join(MOUNTS[name]) + "\n")
        write(name, "proc/cmdline", f"BOOT_IMAGE=/boot/vmlinuz-{kernel} root=UUID=2b5c7e1a-9f3d-4c6b-8e2a-1d0f3b5a7c9e ro quiet\n")
        write(name, "sys/devices/system/clocksource/clocksource0/available_clocksource", CLOCKSOURCE[name] + "\n")
        for k, v in DMI.get(name, {}).items():
            write(name, f"sys/class/dmi/id/{k}", v + "\n", 0o400 if k == "product_uuid" else 0o444)
    # The container fixture: Docker marks it with /.dockerenv and PID 1 is the container's.
    write("alpine3", ".dockerenv", "")
    write("alpine3", "proc/1/environ", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\0HOSTNAME=3f9a1c2b7d4e\0HOME=/root\0")


if __name__ == "__main__":
    main()
