#!/bin/sh
# Makes the fixture root under testdata/root: /proc/modules, /proc/sys/kernel/osrelease and
# the /sys/module/<name>/{version,srcversion,taint} files of the modules listed.
#
# On a host with loadable modules, the modules and their sysfs files are copied from the host
# itself (the first 12 loaded modules, and zfs, bridge and nvidia when loaded). The kernel
# the committed fixture was made on was built without module support (no /proc/modules), so
# its /proc/modules is written below in the kernel's m_show format, from a Debian 12 host
# with zfs-dkms and nvidia; /sys/module/bridge/version and the kernel release are this
# host's own.
set -eu
cd "$(dirname "$0")"
rm -rf root
mkdir -p root/proc/sys/kernel root/sys/module
cp /proc/sys/kernel/osrelease root/proc/sys/kernel/osrelease

copy_sys() { # module
	for f in version srcversion taint; do
		if [ -r "/sys/module/$1/$f" ]; then
			mkdir -p "root/sys/module/$1"
			cp "/sys/module/$1/$f" "root/sys/module/$1/$f"
		fi
	done
}

if [ -r /proc/modules ]; then
	{ head -n 12 /proc/modules; grep -E '^(zfs|bridge|nvidia) ' /proc/modules || true; } | sort -u >root/proc/modules
	cut -d' ' -f1 root/proc/modules | while read -r m; do copy_sys "$m"; done
	exit 0
fi

cat >root/proc/modules <<'MODULES'
zfs 6078464 6 zunicode,zzstd,zlua,zavl,icp,zcommon,znvpair,spl, Live 0x0000000000000000 (POE)
spl 135168 6 zfs,icp,zzstd,znvpair,zcommon,zavl, Live 0x0000000000000000 (OE)
nvidia 56823808 0 - Live 0x0000000000000000 (POE)
bridge 311296 0 - Live 0x0000000000000000
stp 16384 1 bridge, Live 0x0000000000000000
llc 16384 2 bridge,stp, Live 0x0000000000000000
nf_tables 356352 0 - Loading 0x0000000000000000
ext4 1044480 1 - Live 0x0000000000000000
MODULES
copy_sys bridge
mkdir -p root/sys/module/zfs root/sys/module/spl root/sys/module/nvidia root/sys/module/ext4
printf '2.1.11-1\n' >root/sys/module/zfs/version
printf '8F2B1A3C4D5E6F708192A3B\n' >root/sys/module/zfs/srcversion
printf 'POE\n' >root/sys/module/zfs/taint
printf 'E3CE2D1CE07F1B6A2E2A4E8\n' >root/sys/module/spl/srcversion
printf 'OE\n' >root/sys/module/spl/taint
printf '535.183.01\n' >root/sys/module/nvidia/version
printf 'POE\n' >root/sys/module/nvidia/taint
printf '\n' >root/sys/module/ext4/taint
