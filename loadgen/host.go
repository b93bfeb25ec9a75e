package loadgen

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// A host's package is one uint32: the title's pool index (or, past the pool, one of the
// host's own titles) shifted left by verBits, and the version index in the low bits. A
// host's packages are kept sorted, which is the pool's order of source and name.
const (
	verBits = 5
	verMax  = 1<<verBits - 1
)

func pkgRef(title uint32, ver int) uint32 { return title<<verBits | uint32(ver) }
func refTitle(p uint32) uint32            { return p >> verBits }
func refVer(p uint32) int                 { return int(p & verMax) }

// rpmFraction is the share of hosts of the Red Hat family (Rocky Linux); the others run
// Debian or Ubuntu.
const rpmFraction = 0.15

// refTime is the latest install time of the packages a host starts with: the simulated
// fleet was built before it, whatever the day the generator runs.
var refTime = time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC).Unix()

// host is one simulated agent and its machine.
type host struct {
	idx   int
	seed  uint64
	id    string
	fam   int
	facts model.Host // normalized: no volatile figures
	// services are shared by the hosts of one family and role: read only.
	services  []model.Service
	listeners []model.Listener
	baseTime  int64   // when the host was installed (Unix seconds)
	runs      []int64 // when its package manager ran since: upgrades and installs

	// Owned by the one job that works on the host at a time (busy).
	busy      atomic.Bool
	rng       *rand.Rand
	pkgs      []uint32
	times     map[uint32]int64 // title → install time of the packages changed during the run
	nextOwn   uint32           // the next of the host's own titles
	memAvail  uint64
	swapFree  uint64
	fsUsed    []uint64
	cred      string
	seq       uint64
	curHash   string // hash of the current state ("" until computed)
	forceFull bool
	// accHash is the hash of the state the collector holds ("" before the first full
	// report is accepted); accPkgs and accTimes are that state's packages when they differ
	// from pkgs and times (nil otherwise).
	accHash  string
	accPkgs  []uint32
	accTimes map[uint32]int64
	// journal holds the events not yet accepted, oldest first.
	journal []protocol.Event
	// accEvents counts the events of accepted reports.
	accEvents int
}

// roles give hosts their hostnames, their services and their listening ports.
var roles = []struct {
	name     string
	weight   int
	services []string
	ports    []model.Listener
}{
	{"web", 20, []string{"nginx.service"}, []model.Listener{{Protocol: "tcp", Address: "0.0.0.0", Port: 80, Process: "nginx", Unit: "nginx.service"}, {Protocol: "tcp", Address: "0.0.0.0", Port: 443, Process: "nginx", Unit: "nginx.service"}}},
	{"app", 25, []string{"gunicorn.service", "app-worker.service"}, []model.Listener{{Protocol: "tcp", Address: "127.0.0.1", Port: 8000, Process: "gunicorn", Unit: "gunicorn.service"}}},
	{"db", 8, []string{"postgresql.service", "postgresql@15-main.service"}, []model.Listener{{Protocol: "tcp", Address: "0.0.0.0", Port: 5432, Process: "postgres", Unit: "postgresql@15-main.service"}}},
	{"cache", 5, []string{"redis-server.service"}, []model.Listener{{Protocol: "tcp", Address: "0.0.0.0", Port: 6379, Process: "redis-server", Unit: "redis-server.service"}}},
	{"queue", 4, []string{"rabbitmq-server.service"}, []model.Listener{{Protocol: "tcp", Address: "0.0.0.0", Port: 5672, Process: "beam.smp", Unit: "rabbitmq-server.service"}, {Protocol: "tcp", Address: "0.0.0.0", Port: 15672, Process: "beam.smp", Unit: "rabbitmq-server.service"}}},
	{"k8s-node", 20, []string{"kubelet.service", "containerd.service"}, []model.Listener{{Protocol: "tcp", Address: "0.0.0.0", Port: 10250, Process: "kubelet", Unit: "kubelet.service"}, {Protocol: "tcp", Address: "127.0.0.1", Port: 10248, Process: "kubelet", Unit: "kubelet.service"}}},
	{"build", 6, []string{"docker.service", "jenkins-agent.service"}, nil},
	{"mon", 3, []string{"prometheus.service", "grafana-server.service"}, []model.Listener{{Protocol: "tcp6", Address: "::", Port: 9090, Process: "prometheus", Unit: "prometheus.service"}, {Protocol: "tcp6", Address: "::", Port: 3000, Process: "grafana", Unit: "grafana-server.service"}}},
	{"proxy", 5, []string{"haproxy.service"}, []model.Listener{{Protocol: "tcp", Address: "0.0.0.0", Port: 443, Process: "haproxy", Unit: "haproxy.service"}}},
	{"mail", 4, []string{"postfix.service", "dovecot.service"}, []model.Listener{{Protocol: "tcp", Address: "0.0.0.0", Port: 25, Process: "master", Unit: "postfix.service"}, {Protocol: "tcp", Address: "0.0.0.0", Port: 993, Process: "dovecot", Unit: "dovecot.service"}}},
}

var baseServices = [2][]string{
	{"ssh.service", "cron.service", "rsyslog.service", "chrony.service", "dbus.service", "systemd-journald.service",
		"systemd-logind.service", "systemd-udevd.service", "systemd-timesyncd.service", "systemd-resolved.service",
		"networking.service", "unattended-upgrades.service", "apt-daily.service", "apt-daily.timer",
		"apt-daily-upgrade.service", "apt-daily-upgrade.timer", "logrotate.timer", "man-db.timer", "fstrim.timer",
		"e2scrub_all.timer", "getty@.service", "serial-getty@.service", "user@.service", "qemu-guest-agent.service",
		"prometheus-node-exporter.service", "systemd-tmpfiles-clean.timer", "systemd-random-seed.service",
		"systemd-remount-fs.service", "systemd-sysctl.service", "systemd-update-utmp.service", "console-setup.service",
		"keyboard-setup.service", "kmod-static-nodes.service", "systemd-modules-load.service", "emergency.service",
		"rescue.service", "systemd-journal-flush.service", "ifupdown-pre.service", "sudo.service", "procps.service"},
	{"sshd.service", "crond.service", "rsyslog.service", "chronyd.service", "dbus-broker.service", "auditd.service",
		"firewalld.service", "NetworkManager.service", "NetworkManager-wait-online.service", "tuned.service",
		"systemd-journald.service", "systemd-logind.service", "systemd-udevd.service", "dnf-makecache.service",
		"dnf-makecache.timer", "logrotate.timer", "fstrim.timer", "getty@.service", "serial-getty@.service",
		"user@.service", "qemu-guest-agent.service", "node_exporter.service", "systemd-tmpfiles-clean.timer",
		"systemd-random-seed.service", "systemd-remount-fs.service", "systemd-sysctl.service", "kdump.service",
		"irqbalance.service", "polkit.service", "rhsmcertd.service", "selinux-autorelabel-mark.service",
		"systemd-update-utmp.service", "kmod-static-nodes.service", "systemd-modules-load.service", "emergency.service",
		"rescue.service", "systemd-journal-flush.service", "import-state.service", "sssd.service", "lvm2-monitor.service"},
}

var cpuModels = []string{"AMD EPYC 7543 32-Core Processor", "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
	"Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "AMD EPYC 9454 48-Core Processor", "Intel(R) Xeon(R) Silver 4314 CPU @ 2.40GHz"}

// roleServices returns the systemd units of hosts of family fam and role r, n of them.
func roleServices(fam, r, n int) []model.Service {
	names := slices.Clone(roles[r].services)
	for _, s := range baseServices[fam] {
		if len(names) >= n {
			break
		}
		names = append(names, s)
	}
	for k := 0; len(names) < n; k++ {
		names = append(names, "worker@"+strconv.Itoa(k)+".service")
	}
	names = names[:min(n, len(names))]
	out := make([]model.Service, len(names))
	for i, name := range names {
		s := model.Service{Manager: "systemd", Name: name, UnitFileState: "enabled", ActiveState: "active", SubState: "running",
			Path: "/usr/lib/systemd/system/" + name, Description: name + " daemon"}
		switch {
		case len(name) > 6 && name[len(name)-6:] == ".timer":
			s.SubState, s.Description = "waiting", name+" schedule"
		case slices.Contains([]string{"emergency.service", "rescue.service", "getty@.service", "serial-getty@.service", "user@.service"}, name):
			s.UnitFileState, s.ActiveState, s.SubState = "static", "inactive", "dead"
		}
		out[i] = s
	}
	st := protocol.State{Services: out}
	protocol.Normalize(&st)
	return st.Services
}

// newHost draws host i of the fleet. scratch is a reusable bitmap of the pool's size.
func (g *Generator) newHost(i int, scratch []bool) *host {
	seed := g.opts.Seed
	h := &host{idx: i, seed: mix64(seed*0x9e3779b97f4a7c15 + uint64(i))}
	h.rng = rand.New(rand.NewPCG(seed, uint64(i)+1))
	rng := h.rng
	// A machine-id: 32 hex digits, unique for each index of a seed.
	h.id = fmt.Sprintf("%016x%016x", h.seed, mix64(h.seed+0x632be59bd9b4e019))

	h.fam = famDeb
	if rng.Float64() < rpmFraction {
		h.fam = famRPM
	}
	r := weightedRole(rng)
	site := []string{"fra1", "ams2", "lon1", "nyc3", "sfo2"}[rng.IntN(5)]
	env := []string{"prod", "prod", "prod", "staging", "dev"}[rng.IntN(5)]
	hostname := roles[r].name + "-" + fmt.Sprintf("%05d", i)
	var osInfo model.OS
	var kernel string
	switch {
	case h.fam == famRPM:
		osInfo = model.OS{ID: "rocky", IDLike: "rhel centos fedora", Name: "Rocky Linux", Version: "9.5 (Blue Onyx)", VersionID: "9.5",
			PrettyName: "Rocky Linux 9.5 (Blue Onyx)", Family: "rhel"}
		kernel = "5.14.0-503." + strconv.Itoa(11+rng.IntN(30)) + ".1.el9_5.x86_64"
	case rng.IntN(10) < 7:
		osInfo = model.OS{ID: "debian", Name: "Debian GNU/Linux", Version: "12 (bookworm)", VersionID: "12",
			PrettyName: "Debian GNU/Linux 12 (bookworm)", Family: "debian"}
		kernel = "6.1.0-" + strconv.Itoa(20+rng.IntN(12)) + "-amd64"
	default:
		osInfo = model.OS{ID: "ubuntu", IDLike: "debian", Name: "Ubuntu", Version: "24.04.1 LTS (Noble Numbat)", VersionID: "24.04",
			PrettyName: "Ubuntu 24.04.1 LTS", Family: "debian"}
		kernel = "6.8.0-" + strconv.Itoa(40+rng.IntN(12)) + "-generic"
	}
	cores := []int{2, 4, 4, 8, 8, 16, 32, 64}[rng.IntN(8)]
	mem := uint64(cores) * (2 + uint64(rng.IntN(3))*2) << 30
	rootSize := uint64(20+rng.IntN(480)) << 30
	fss := []model.Filesystem{
		{Device: "/dev/vda1", Mountpoint: "/", Type: "ext4", TotalBytes: rootSize},
		{Device: "/dev/vda15", Mountpoint: "/boot/efi", Type: "vfat", TotalBytes: 124 << 20},
	}
	if roles[r].name == "db" || roles[r].name == "queue" || rng.IntN(4) == 0 {
		fss = append(fss, model.Filesystem{Device: "/dev/vdb1", Mountpoint: "/var/lib/" + roles[r].name, Type: "xfs", TotalBytes: uint64(100+rng.IntN(2000)) << 30})
	}
	slices.SortFunc(fss, func(a, b model.Filesystem) int { return cmp.Compare(a.Mountpoint, b.Mountpoint) })
	ip := fmt.Sprintf("10.%d.%d.%d", 16+(i+1)>>16&0xff, (i+1)>>8&0xff, (i+1)&0xff)
	mac := fmt.Sprintf("52:54:00:%02x:%02x:%02x", byte(h.seed>>16), byte(h.seed>>8), byte(h.seed))
	vm, evidence := "kvm", []string{"dmi sys_vendor=QEMU", "clocksource kvm-clock"}
	switch rng.IntN(10) {
	case 0:
		vm, evidence = "", nil
	case 1:
		vm, evidence = "vmware", []string{"dmi sys_vendor=VMware, Inc."}
	}
	h.baseTime = refTime - int64(30+rng.IntN(900))*86400
	// Package managers install in runs: the OS installation, then upgrade runs every few
	// weeks; the packages of a run share its time, give or take the run's length.
	for k := 5 + rng.IntN(25); k > 0; k-- {
		h.runs = append(h.runs, h.baseTime+3600+rng.Int64N(refTime-h.baseTime-3600))
	}
	slices.Sort(h.runs)
	h.facts = model.Host{
		ID: h.id, IDSource: "machine-id", Hostname: hostname, FQDN: hostname + "." + site + ".example.net",
		OS: osInfo, Kernel: kernel, Arch: "x86_64",
		Virtualization: model.Virtualization{VM: vm, Evidence: evidence},
		BootTime:       time.Unix(refTime-int64(rng.IntN(90*86400)), 0).UTC(),
		CPU:            model.CPU{Model: cpuModels[rng.IntN(len(cpuModels))], Sockets: 1, Cores: cores, Threads: cores},
		Memory:         model.Memory{TotalBytes: mem, SwapTotalBytes: 1 << 30},
		Filesystems:    fss,
		Interfaces: []model.Interface{
			{Name: "eth0", MAC: mac, MTU: 1500, Up: true, Addrs: []string{ip + "/16", "fe80::5054:ff:fe" + mac[9:11] + ":" + mac[12:14] + mac[15:17] + "/64"}},
			{Name: "lo", MTU: 65536, Up: true, Addrs: []string{"127.0.0.1/8", "::1/128"}},
		},
		Labels: map[string]string{"env": env, "role": roles[r].name, "site": site},
	}
	h.services = g.services[h.fam][r]
	h.listeners = listeners(rng, h.fam, r, g.opts.Listeners)
	// Whatever canonical form the protocol gives facts and listeners, they have it from
	// the start: they never change, and states are hashed without normalizing.
	st := protocol.State{Host: h.facts, Listeners: h.listeners}
	protocol.Normalize(&st)
	h.facts, h.listeners = st.Host, st.Listeners

	h.memAvail = mem / 2
	h.swapFree = 1 << 30
	for _, fs := range fss {
		h.fsUsed = append(h.fsUsed, fs.TotalBytes/10+uint64(rng.Float64()*float64(fs.TotalBytes)/2))
	}

	// The packages: the family's core set, then each title by its popularity rank (see
	// Pool), then a few titles of the host's own (local builds nobody else has).
	fam := g.pool.fams[h.fam]
	lo, hi := float64(g.opts.MinPackages), float64(g.opts.MaxPackages)
	n := int(math.Round(lo * math.Pow(hi/lo, rng.Float64()))) // log-uniform: most hosts are small
	n = min(n, len(fam.ranked))
	own := int(float64(n)*g.opts.UniqueFraction + rng.Float64())
	shared := n - own
	core := min(fam.core, shared*3/4)
	scale := 0.83 * float64(shared)
	clear(scratch)
	h.pkgs = make([]uint32, 0, n+8)
	taken := scratch[:len(fam.ranked)]
	for rank := range fam.ranked {
		if rank >= core {
			x := float64(rank) / scale
			if rng.Float64() >= 1/(1+x*x*x) {
				continue
			}
		}
		taken[rank] = true
		h.pkgs = append(h.pkgs, pkgRef(fam.ranked[rank], initialVersion(rng)))
	}
	// Exactly shared packages: drop random ones past the core set, or add the most popular
	// ones missing.
	for len(h.pkgs) > shared {
		i := core + rng.IntN(len(h.pkgs)-core)
		h.pkgs[i] = h.pkgs[len(h.pkgs)-1]
		h.pkgs = h.pkgs[:len(h.pkgs)-1]
	}
	for rank := 0; len(h.pkgs) < shared; rank++ {
		if !taken[rank] {
			h.pkgs = append(h.pkgs, pkgRef(fam.ranked[rank], initialVersion(rng)))
		}
	}
	for k := 0; k < own; k++ {
		h.pkgs = append(h.pkgs, pkgRef(uint32(len(g.pool.titles))+h.nextOwn, 0))
		h.nextOwn++
	}
	slices.Sort(h.pkgs)
	return h
}

// initialVersion draws how far behind the newest versions a host starts: most packages at
// the fleet's oldest version, fewer and fewer at the later ones.
func initialVersion(rng *rand.Rand) int {
	v := 0
	for v < 4 && rng.Float64() < 0.35 {
		v++
	}
	return v
}

func weightedRole(rng *rand.Rand) int {
	sum := 0
	for _, r := range roles {
		sum += r.weight
	}
	x := rng.IntN(sum)
	for i, r := range roles {
		if x < r.weight {
			return i
		}
		x -= r.weight
	}
	return 0
}

// listeners returns n listening sockets of a host: ssh, the role's ports, a metrics
// exporter, then local helper ports.
func listeners(rng *rand.Rand, fam, r, n int) []model.Listener {
	sshUnit := []string{"ssh.service", "sshd.service"}[fam]
	ls := []model.Listener{
		{Protocol: "tcp", Address: "0.0.0.0", Port: 22, Process: "sshd", Unit: sshUnit},
		{Protocol: "tcp6", Address: "::", Port: 22, Process: "sshd", Unit: sshUnit},
	}
	ls = append(ls, roles[r].ports...)
	ls = append(ls, model.Listener{Protocol: "tcp6", Address: "::", Port: 9100, Process: "node_exporter"},
		model.Listener{Protocol: "udp", Address: "127.0.0.1", Port: 323, Process: "chronyd"})
	for k := 0; len(ls) < n; k++ {
		ls = append(ls, model.Listener{Protocol: "tcp", Address: "127.0.0.1", Port: uint16(10000 + k), Process: "helper-" + strconv.Itoa(k)})
	}
	ls = ls[:min(n, len(ls))]
	for i := range ls {
		ls[i].PID = 300 + rng.IntN(60000)
	}
	slices.SortFunc(ls, model.CompareListeners)
	return ls
}

// pkg returns a host's package p as its package database would show it.
func (g *Generator) pkg(h *host, p uint32, times map[uint32]int64) model.Package {
	t, v := refTitle(p), refVer(p)
	ts, changed := times[t]
	if n := uint32(len(g.pool.titles)); t >= n {
		k := int(t - n)
		if !changed {
			ts = h.installTime(t, v)
		}
		arch := []string{"amd64", "x86_64"}[h.fam]
		return model.Package{Source: g.pool.fams[h.fam].source, Name: "site-" + h.id[:10] + "-tool" + strconv.Itoa(k),
			Version: "1." + strconv.Itoa(k) + "." + strconv.Itoa(v) + "-1", Arch: arch, InstallTime: time.Unix(ts, 0).UTC(),
			PackageInfo:   model.PackageInfo{Maintainer: "Ops <ops@example.net>", Section: "local", Summary: "in-house tool built on this host"},
			InstalledSize: 81920}
	}
	ti := &g.pool.titles[t]
	if !changed {
		ts = h.installTime(t, v)
	}
	return model.Package{Source: ti.source, Name: ti.name, Version: ti.version(v), Arch: ti.arch, InstallTime: time.Unix(ts, 0).UTC(),
		PackageInfo: model.PackageInfo{Vendor: ti.vendor, Maintainer: ti.maintainer, Section: ti.section, Origin: ti.origin,
			License: ti.license, Summary: ti.summary},
		InstalledSize: ti.size}
}

// installTime returns when title t came to version v on h, before the run: most packages
// at their first version come with the OS installation, the others with one of the later
// package manager runs, a few minutes into it.
func (h *host) installTime(t uint32, v int) int64 {
	x := mix64(h.seed ^ uint64(t)*0x9e3779b97f4a7c15 ^ uint64(v)<<56)
	if v == 0 && x%10 < 7 || len(h.runs) == 0 {
		return h.baseTime + int64(x>>32%900)
	}
	r := h.runs[x%uint64(len(h.runs))]
	if v > 0 {
		// Later versions come with later runs.
		r = h.runs[len(h.runs)-1-int(x%uint64(min(len(h.runs), 8-min(v, 4))))]
	}
	return r + int64(x>>32%300)
}

// state materializes a host's state with the given packages, in canonical (normalized)
// form, as an agent's protocol.FromInventory would make it.
func (g *Generator) state(h *host, pkgs []uint32, times map[uint32]int64) protocol.State {
	sw := make([]model.Package, len(pkgs))
	for i, p := range pkgs {
		sw[i] = g.pkg(h, p, times)
	}
	if len(pkgs) > 0 && refTitle(pkgs[len(pkgs)-1]) >= uint32(len(g.pool.titles)) {
		// The host's own titles sort among the pool's by name.
		slices.SortFunc(sw, model.ComparePackages)
	}
	pkgSource, other := "dpkg", "rpm"
	if h.fam == famRPM {
		pkgSource, other = "rpm", "dpkg"
	}
	sources := []model.SourceStatus{
		{Name: "apk", State: "not_present"},
		{Name: pkgSource, State: "ok", Items: len(sw)},
		{Name: other, State: "not_present"},
		{Name: "host", State: "ok", Items: 1},
		{Name: "pacman", State: "not_present"},
		{Name: "ports", State: "ok", Items: len(h.listeners)},
		{Name: "systemd", State: "ok", Items: len(h.services)},
	}
	slices.SortFunc(sources, func(a, b model.SourceStatus) int { return cmp.Compare(a.Name, b.Name) })
	var svcs []model.Service
	if len(h.services) > 0 {
		svcs = h.services
	}
	var ls []model.Listener
	if len(h.listeners) > 0 {
		ls = h.listeners
	}
	if len(sw) == 0 {
		sw = nil
	}
	return protocol.State{Host: h.facts, Software: sw, Services: svcs, Listeners: ls, Sources: sources}
}

// capacity returns the host's volatile figures, a little changed since the last call.
func (h *host) capacity(now time.Time) protocol.Capacity {
	walk := func(v, total uint64) uint64 {
		d := (h.rng.Float64() - 0.5) * 0.04 * float64(total)
		return uint64(min(max(float64(v)+d, float64(total)/50), float64(total)*0.98))
	}
	h.memAvail = walk(h.memAvail, h.facts.Memory.TotalBytes)
	h.swapFree = walk(h.swapFree, h.facts.Memory.SwapTotalBytes)
	c := protocol.Capacity{CollectedAt: now.UTC(), MemoryAvailable: h.memAvail, SwapFree: h.swapFree,
		SourceDurationSecs: 0.05 + h.rng.Float64()*0.2}
	for i, fs := range h.facts.Filesystems {
		h.fsUsed[i] = walk(h.fsUsed[i], fs.TotalBytes)
		c.Filesystems = append(c.Filesystems, protocol.FilesystemUse{Mountpoint: fs.Mountpoint, UsedBytes: h.fsUsed[i], FreeBytes: fs.TotalBytes - h.fsUsed[i]})
	}
	return c
}

// change applies one round's software changes to a host, the way a package manager run
// would: mostly upgrades, some installs (now and then of a title of the host's own, shadow
// IT), some removals. It returns whether anything changed.
func (g *Generator) change(h *host, now int64) bool {
	rng := h.rng
	fam := g.pool.fams[h.fam]
	n := 1
	for n < 5 && rng.Float64() < 0.4 {
		n++
	}
	if rng.Float64() < 0.03 {
		n = 10 + rng.IntN(30) // an upgrade run touching many packages
	}
	if h.accHash != "" && h.accPkgs == nil {
		// The collector holds the current packages: keep them as its state.
		h.accPkgs, h.accTimes = slices.Clone(h.pkgs), cloneTimes(h.times)
	}
	if h.times == nil {
		h.times = map[uint32]int64{}
	}
	changed := false
	for range n {
		switch x := rng.Float64(); {
		case x < 0.6: // upgrade
			i := rng.IntN(len(h.pkgs))
			p := h.pkgs[i]
			if refVer(p) < verMax {
				h.pkgs[i] = p + 1
				h.times[refTitle(p)] = now
				changed = true
			}
		case x < 0.85: // install
			var t uint32
			if rng.Float64() < 0.05 {
				t = uint32(len(g.pool.titles)) + h.nextOwn
				h.nextOwn++
			} else {
				// Something fairly popular the host lacks: a draw from the titles of
				// the ranks up to twice its package count.
				t = fam.ranked[rng.IntN(min(len(fam.ranked), 2*len(h.pkgs)))]
			}
			i, found := slices.BinarySearch(h.pkgs, pkgRef(t, 0))
			if found || (i < len(h.pkgs) && refTitle(h.pkgs[i]) == t) {
				continue
			}
			h.pkgs = slices.Insert(h.pkgs, i, pkgRef(t, 0))
			h.times[t] = now
			changed = true
		default: // remove, never one of the core set
			i := rng.IntN(len(h.pkgs))
			t := refTitle(h.pkgs[i])
			if len(h.pkgs) < 2 || (t < uint32(len(g.pool.titles)) && int(g.pool.titles[t].rank) < fam.core) {
				continue
			}
			h.pkgs = slices.Delete(h.pkgs, i, i+1)
			delete(h.times, t)
			changed = true
		}
	}
	return changed
}

func cloneTimes(m map[uint32]int64) map[uint32]int64 {
	if m == nil {
		return nil
	}
	c := make(map[uint32]int64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// held returns the packages of the state the collector holds for h.
func (h *host) held() ([]uint32, map[uint32]int64) {
	if h.accPkgs != nil {
		return h.accPkgs, h.accTimes
	}
	return h.pkgs, h.times
}

// mix64 is SplitMix64's finalizer: a bijection of uint64 that scatters its input.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
