package host

import (
	"context"
	"errors"
	"regexp"
	"sort"
	"strings"

	"github.com/shirou/gopsutil/v3/common"
	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/disk"
	"github.com/shirou/gopsutil/v3/mem"
	"github.com/shirou/gopsutil/v3/net"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/internal/model"
)

// ignoredFSTypes are pseudo, virtual and image file systems: they hold no capacity of their
// own to plan for (node_exporter's default exclusions, plus tmpfs).
var ignoredFSTypes = map[string]bool{
	"autofs": true, "binfmt_misc": true, "bpf": true, "cgroup": true, "cgroup2": true,
	"configfs": true, "debugfs": true, "devpts": true, "devtmpfs": true, "efivarfs": true,
	"fusectl": true, "fuse.lxcfs": true, "fuse.portal": true, "fuse.gvfsd-fuse": true,
	"hugetlbfs": true, "iso9660": true, "mqueue": true, "nsfs": true, "overlay": true,
	"proc": true, "procfs": true, "pstore": true, "ramfs": true, "rpc_pipefs": true,
	"securityfs": true, "selinuxfs": true, "squashfs": true, "erofs": true, "sysfs": true,
	"tracefs": true, "tmpfs": true, "nfsd": true, "tracefs ": true, "devfs": true,
	"zram": true, "virtiofs": false,
}

// ignoredMounts are mount points under which container runtimes and the kernel mount things.
var ignoredMounts = regexp.MustCompile(`^/(dev|proc|sys|run/credentials/.+|run/user/.+|var/lib/docker/.+|var/lib/containers/storage/.+|var/lib/kubelet/.+|snap/.+)($|/)`)

// capacity fills CPU, memory, boot time, filesystems and interfaces through gopsutil, with its
// paths pointed under the host root.
func capacity(ctx context.Context, r hostfs.Root, h *model.Host, exclude *regexp.Regexp) error {
	root := string(r)
	if root == "" {
		root = "/"
	}
	ctx = context.WithValue(ctx, common.EnvKey, common.EnvMap{
		common.HostProcEnvKey: r.Path("/proc"),
		common.HostSysEnvKey:  r.Path("/sys"),
		common.HostEtcEnvKey:  r.Path("/etc"),
		common.HostVarEnvKey:  r.Path("/var"),
		common.HostRunEnvKey:  r.Path("/run"),
		common.HostDevEnvKey:  r.Path("/dev"),
		common.HostRootEnvKey: root,
	})
	var errs []error
	// Not gopsutil's BootTime: v3.24.5 reads btime and then discards it for /proc/uptime,
	// which is relative to the reader's clock and drifts between reads.
	if bt, err := bootTime(r); err == nil {
		h.BootTime = bt
	} else {
		errs = append(errs, wrap("boot time", err))
	}
	if err := cpuFacts(ctx, &h.CPU); err != nil {
		errs = append(errs, err)
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		h.Memory.TotalBytes, h.Memory.AvailableBytes = vm.Total, vm.Available
		h.Memory.SwapTotalBytes, h.Memory.SwapFreeBytes = vm.SwapTotal, vm.SwapFree
	} else {
		errs = append(errs, wrap("memory", err))
	}
	fss, err := filesystems(ctx, r)
	if err != nil {
		errs = append(errs, err)
	}
	h.Filesystems = fss
	ifs, err := interfaces(ctx, exclude)
	if err != nil {
		errs = append(errs, err)
	}
	h.Interfaces = ifs
	return errors.Join(errs...)
}

func cpuFacts(ctx context.Context, c *model.CPU) error {
	infos, err := cpu.InfoWithContext(ctx)
	if err != nil {
		return wrap("cpu", err)
	}
	c.Threads = len(infos)
	sockets := map[string]bool{}
	cores := map[string]bool{}
	for _, in := range infos {
		if c.Model == "" {
			c.Model = strings.TrimSpace(in.ModelName)
		}
		if in.PhysicalID != "" {
			sockets[in.PhysicalID] = true
			if in.CoreID != "" {
				cores[in.PhysicalID+"/"+in.CoreID] = true
			}
		}
	}
	c.Sockets, c.Cores = len(sockets), len(cores)
	if c.Cores == 0 {
		// Architectures whose cpuinfo has no topology: ask sysfs.
		if n, err := cpu.CountsWithContext(ctx, false); err == nil {
			c.Cores = n
		}
	}
	if c.Threads == 0 {
		if n, err := cpu.CountsWithContext(ctx, true); err == nil {
			c.Threads = n
		}
	}
	return nil
}

// filesystems lists the real file systems mounted in PID 1's mount namespace with their
// usage. A device mounted several times (bind mounts) is listed once, at the mount that shows
// the most of it (the shortest root inside the file system), so capacity is counted once;
// btrfs subvolumes are told apart by their root.
func filesystems(ctx context.Context, r hostfs.Root) ([]model.Filesystem, error) {
	b, err := r.ReadFile("/proc/1/mountinfo", 16<<20)
	if hostfs.NotPresent(err) {
		b, err = r.ReadFile("/proc/self/mountinfo", 16<<20)
	}
	if err != nil {
		return nil, wrap("filesystems", err)
	}
	mounts := ParseMountinfo(b)
	type pick struct {
		m     Mount
		index int
	}
	best := map[string]pick{}
	for i, m := range mounts {
		if ignoredFSTypes[m.Type] || ignoredMounts.MatchString(m.Mountpoint) || m.Device == "none" {
			continue
		}
		key := m.Device
		if !strings.HasPrefix(key, "/dev/") {
			key += " " + m.Mountpoint // network and virtual devices: one per mount
		} else if m.Type == "btrfs" {
			key += " " + m.Root
		}
		if old, ok := best[key]; ok && len(old.m.Root) <= len(m.Root) {
			continue
		}
		best[key] = pick{m, i}
	}
	out := make([]model.Filesystem, 0, len(best))
	var errs []error
	for _, p := range best {
		m := p.m
		fs := model.Filesystem{Device: m.Device, Mountpoint: m.Mountpoint, Type: m.Type, ReadOnly: m.ReadOnly}
		u, err := disk.UsageWithContext(ctx, r.Path(m.Mountpoint))
		if err != nil {
			// A host mount not visible under the root (bound without rslave): still listed.
			errs = append(errs, wrap("usage of "+m.Mountpoint, err))
		} else {
			fs.TotalBytes, fs.FreeBytes, fs.UsedBytes = u.Total, u.Free, u.Used
		}
		out = append(out, fs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mountpoint < out[j].Mountpoint })
	if len(out) == 0 && len(errs) > 0 {
		return out, errors.Join(errs...)
	}
	return out, nil
}

func interfaces(ctx context.Context, exclude *regexp.Regexp) ([]model.Interface, error) {
	ifs, err := net.InterfacesWithContext(ctx)
	if err != nil {
		return nil, wrap("interfaces", err)
	}
	out := make([]model.Interface, 0, len(ifs))
	for _, in := range ifs {
		if exclude.MatchString(in.Name) {
			continue
		}
		mi := model.Interface{Name: in.Name, MAC: in.HardwareAddr, MTU: in.MTU}
		for _, f := range in.Flags {
			if f == "up" {
				mi.Up = true
			}
		}
		for _, a := range in.Addrs {
			mi.Addrs = append(mi.Addrs, a.Addr)
		}
		out = append(out, mi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
