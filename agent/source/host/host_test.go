package host

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/golden"
)

var fixtureRoots = []string{"debian12", "rocky9", "alpine3", "arch", "opensuse15", "centos7"}

// stable drops what a fixture root cannot pin: the interfaces of the network namespace the
// test runs in, and the statfs figures of the file system the fixture is checked out on.
func stable(h *model.Host) {
	h.Interfaces = nil
	for i := range h.Filesystems {
		f := &h.Filesystems[i]
		f.TotalBytes, f.UsedBytes, f.FreeBytes = 0, 0, 0
	}
}

func TestCollectFixtures(t *testing.T) {
	for _, name := range fixtureRoots {
		t.Run(name, func(t *testing.T) {
			res, _ := New(Options{Root: hostfs.Root(fixture.Root(t, name)), Labels: map[string]string{"env": "test"}}).Collect(context.Background())
			if res.Host == nil {
				t.Fatal("no host facts")
			}
			h := *res.Host
			stable(&h)
			golden.AssertJSON(t, filepath.Join("testdata", name+".golden.json"), h)
		})
	}
}

func TestFixtureFacts(t *testing.T) {
	tests := []struct {
		root                string
		id, idSource        string
		vm, container       string
		family, fqdn        string
		sockets, cores, thr int
		filesystems         []string
		memTotal, memAvail  uint64
	}{
		{root: "debian12", id: "5c0f5d2e8f6a4b1c9e3d7a2b4c6d8e0f", idSource: "machine-id", vm: "kvm", family: "debian",
			fqdn: "web-01.prod.example.com", sockets: 1, cores: 4, thr: 4,
			filesystems: []string{"/", "/boot/efi", "/mnt/backup", "/var/lib/postgresql"},
			memTotal:    8131304 * 1024, memAvail: 5632100 * 1024},
		{root: "rocky9", id: "b7e4a1c2d3f54e6a8b9c0d1e2f3a4b5c", idSource: "machine-id", vm: "vmware", family: "rhel",
			fqdn: "db-01.prod.example.com", sockets: 2, cores: 4, thr: 4, filesystems: []string{"/", "/boot", "/home", "/var/lib/pgsql"}},
		{root: "alpine3", idSource: "", container: "docker", family: "alpine", sockets: 1, cores: 2, thr: 4,
			filesystems: []string{"/data"}},
		{root: "arch", id: "0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a", idSource: "machine-id", family: "arch",
			fqdn: "build-07.lab.example.com", sockets: 2, cores: 4, thr: 8, filesystems: []string{"/", "/boot", "/home", "/srv/builds"}},
		{root: "opensuse15", id: "7d2e5f3a-1b4c-4d6e-8f9a-0b1c2d3e4f5a", idSource: "product-uuid", vm: "microsoft", family: "suse",
			sockets: 1, cores: 2, thr: 2, filesystems: []string{"/"}},
		{root: "centos7", id: "8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d", idSource: "machine-id", vm: "xen", family: "rhel",
			fqdn: "legacy-03.corp.example.com", sockets: 1, cores: 2, thr: 2, filesystems: []string{"/"}},
	}
	for _, tt := range tests {
		t.Run(tt.root, func(t *testing.T) {
			res, err := New(Options{Root: hostfs.Root(fixture.Root(t, tt.root))}).Collect(context.Background())
			h := res.Host
			if tt.idSource == "" {
				// A container image with no machine-id and no DMI access, and no state dir.
				if err == nil || !strings.Contains(err.Error(), "host id") {
					t.Errorf("want a host id error without a state dir, got %v", err)
				}
			} else if h.ID != tt.id || h.IDSource != tt.idSource {
				t.Errorf("id = %q from %q, want %q from %q", h.ID, h.IDSource, tt.id, tt.idSource)
			}
			if h.Virtualization.VM != tt.vm || h.Virtualization.Container != tt.container {
				t.Errorf("virtualization = %+v, want vm %q container %q", h.Virtualization, tt.vm, tt.container)
			}
			if h.OS.Family != tt.family || h.FQDN != tt.fqdn {
				t.Errorf("family %q fqdn %q, want %q %q", h.OS.Family, h.FQDN, tt.family, tt.fqdn)
			}
			if h.CPU.Sockets != tt.sockets || h.CPU.Cores != tt.cores || h.CPU.Threads != tt.thr {
				t.Errorf("cpu = %+v, want %d sockets %d cores %d threads", h.CPU, tt.sockets, tt.cores, tt.thr)
			}
			var mounts []string
			for _, f := range h.Filesystems {
				mounts = append(mounts, f.Mountpoint)
			}
			if strings.Join(mounts, " ") != strings.Join(tt.filesystems, " ") {
				t.Errorf("filesystems = %v, want %v", mounts, tt.filesystems)
			}
			if tt.memTotal != 0 && (h.Memory.TotalBytes != tt.memTotal || h.Memory.AvailableBytes != tt.memAvail) {
				t.Errorf("memory = %+v", h.Memory)
			}
			if h.BootTime.IsZero() || h.Kernel == "" || h.Arch != "x86_64" || h.Hostname == "" {
				t.Errorf("boot %v kernel %q arch %q hostname %q", h.BootTime, h.Kernel, h.Arch, h.Hostname)
			}
		})
	}
}

func TestGeneratedID(t *testing.T) {
	root := t.TempDir() // no machine-id, no DMI
	state := filepath.Join(t.TempDir(), "state")
	id1, from, err := hostID(hostfs.Root(root), state)
	if err != nil || from != "generated" || normaliseUUID(id1) != id1 {
		t.Fatalf("id %q from %q: %v", id1, from, err)
	}
	id2, _, err := hostID(hostfs.Root(root), state)
	if err != nil || id2 != id1 {
		t.Fatalf("second read: %q, %v; want the kept %q", id2, err, id1)
	}
	fi, err := os.Stat(filepath.Join(state, hostIDFile))
	if err != nil || fi.Mode().Perm()&0o022 != 0 {
		t.Fatalf("kept id file: %v %v", fi, err)
	}
	if err := os.WriteFile(filepath.Join(state, hostIDFile), []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := hostID(hostfs.Root(root), state); err == nil {
		t.Fatal("a corrupt kept ID must be an error, not silently replaced")
	}
}

func TestNormalise(t *testing.T) {
	tests := []struct{ name, machineID, uuid, wantMID, wantUUID string }{
		{name: "valid", machineID: "5C0F5D2E8F6A4B1C9E3D7A2B4C6D8E0F\n", uuid: "4C4C4544-0042-3910-8052-B4C04F4E5032",
			wantMID: "5c0f5d2e8f6a4b1c9e3d7a2b4c6d8e0f", wantUUID: "4c4c4544-0042-3910-8052-b4c04f4e5032"},
		{name: "uninitialized", machineID: "uninitialized", uuid: "00000000-0000-0000-0000-000000000000"},
		{name: "placeholders", machineID: "00000000000000000000000000000000", uuid: "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"},
		{name: "unset smbios", uuid: "03000200-0400-0500-0006-000700080009"},
		{name: "short", machineID: "abc", uuid: "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := normaliseMachineID(tt.machineID); got != tt.wantMID {
				t.Errorf("machine-id %q → %q, want %q", tt.machineID, got, tt.wantMID)
			}
			if got := normaliseUUID(tt.uuid); got != tt.wantUUID {
				t.Errorf("uuid %q → %q, want %q", tt.uuid, got, tt.wantUUID)
			}
		})
	}
}

func TestDetectVirtualization(t *testing.T) {
	const overlayRoot = "612 540 0:48 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/A\n"
	const ext4Root = "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
	const hvFlags = "processor\t: 0\nflags\t\t: fpu vme sse2 hypervisor lahf_lm\n"
	tests := []struct {
		name          string
		files         map[string]string
		vm, container string
	}{
		{name: "bare metal", files: map[string]string{"proc/cpuinfo": "processor\t: 0\nflags\t\t: fpu vme sse2\n", "sys/class/dmi/id/sys_vendor": "Lenovo\n"}},
		{name: "firecracker", vm: "firecracker", files: map[string]string{
			"proc/cpuinfo":      hvFlags,
			clocksourcePath[1:]: "kvm-clock \n",
			"proc/cmdline":      "console=ttyS0 reboot=k panic=1 pci=off virtio_mmio.device=4K@0xd0000000:5 root=/dev/vda\n"}},
		{name: "firecracker image with a leftover dockerenv", vm: "firecracker", files: map[string]string{
			"proc/cpuinfo": hvFlags, clocksourcePath[1:]: "kvm-clock \n",
			"proc/cmdline": "console=ttyS0 -- --firecracker-init\n", ".dockerenv": "", "proc/1/mountinfo": ext4Root,
			"proc/1/cgroup": "0::/\n"}},
		{name: "kvm without dmi", vm: "kvm", files: map[string]string{"proc/cpuinfo": hvFlags, clocksourcePath[1:]: "kvm-clock tsc \n"}},
		{name: "qemu with kvm", vm: "kvm", files: map[string]string{"sys/class/dmi/id/sys_vendor": "QEMU\n", clocksourcePath[1:]: "kvm-clock tsc\n"}},
		{name: "qemu emulated", vm: "qemu", files: map[string]string{"sys/class/dmi/id/sys_vendor": "QEMU\n", clocksourcePath[1:]: "tsc\n"}},
		{name: "ec2 nitro", vm: "amazon", files: map[string]string{"sys/class/dmi/id/sys_vendor": "Amazon EC2\n", clocksourcePath[1:]: "kvm-clock tsc\n"}},
		{name: "gce", vm: "google", files: map[string]string{"sys/class/dmi/id/product_name": "Google Compute Engine\n"}},
		{name: "hyper-v", vm: "microsoft", files: map[string]string{"sys/class/dmi/id/sys_vendor": "Microsoft Corporation\n", "sys/class/dmi/id/product_name": "Virtual Machine\n"}},
		{name: "surface laptop", vm: "", files: map[string]string{"sys/class/dmi/id/sys_vendor": "Microsoft Corporation\n", "sys/class/dmi/id/product_name": "Surface Laptop 5\n"}},
		{name: "wsl2", vm: "microsoft", files: map[string]string{"proc/sys/kernel/osrelease": "5.15.153.1-microsoft-standard-WSL2\n"}},
		{name: "xen pv", vm: "xen", files: map[string]string{"sys/hypervisor/type": "xen\n"}},
		{name: "arm kvm", vm: "kvm", files: map[string]string{"proc/device-tree/hypervisor/compatible": "linux,kvm\x00"}},
		{name: "docker", container: "docker", files: map[string]string{".dockerenv": "", "proc/1/mountinfo": overlayRoot, "proc/1/cgroup": "0::/\n"}},
		{name: "docker cgroup v1", container: "docker", files: map[string]string{"proc/1/cgroup": "12:pids:/docker/3f9a1c2b7d4e\n"}},
		{name: "kubernetes pod", container: "kubernetes", files: map[string]string{"proc/1/cgroup": "0::/kubepods.slice/kubepods-burstable.slice/cri-containerd-1.scope\n"}},
		{name: "podman", container: "podman", files: map[string]string{"run/.containerenv": ""}},
		{name: "nspawn in kvm", vm: "kvm", container: "systemd-nspawn", files: map[string]string{
			"proc/1/environ": "PATH=/bin\x00container=systemd-nspawn\x00", "sys/class/dmi/id/sys_vendor": "KVM\n"}},
		{name: "lxc", container: "lxc", files: map[string]string{"run/systemd/container": "lxc\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for rel, content := range tt.files {
				p := filepath.Join(root, rel)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			v := detectVirtualization(hostfs.Root(root))
			if v.VM != tt.vm || v.Container != tt.container {
				t.Errorf("got vm %q container %q (evidence %q), want vm %q container %q", v.VM, v.Container, v.Evidence, tt.vm, tt.container)
			}
		})
	}
}

// TestLive reads the machine the test runs on and checks it against what the kernel says.
func TestLive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	res, err := New(Options{Root: "/", StateDir: t.TempDir()}).Collect(context.Background())
	if err != nil {
		t.Logf("partial: %v", err)
	}
	h := res.Host
	if b, err := os.ReadFile("/etc/machine-id"); err == nil && normaliseMachineID(string(b)) != "" {
		if h.ID != strings.TrimSpace(string(b)) || h.IDSource != "machine-id" {
			t.Errorf("id %q from %q, want /etc/machine-id", h.ID, h.IDSource)
		}
	}
	if name, _ := os.Hostname(); h.Hostname != name {
		t.Errorf("hostname %q, want %q", h.Hostname, name)
	}
	if h.CPU.Threads != runtime.NumCPU() && runtime.NumCPU() > 0 {
		// NumCPU honours the affinity mask; a pinned test run may see fewer.
		t.Logf("threads %d, NumCPU %d", h.CPU.Threads, runtime.NumCPU())
	}
	if h.CPU.Threads == 0 || h.Memory.TotalBytes == 0 || h.Memory.AvailableBytes > h.Memory.TotalBytes {
		t.Errorf("cpu %+v memory %+v", h.CPU, h.Memory)
	}
	var rootFS *model.Filesystem
	for i := range h.Filesystems {
		if h.Filesystems[i].Mountpoint == "/" {
			rootFS = &h.Filesystems[i]
		}
	}
	if rootFS == nil || rootFS.TotalBytes == 0 || rootFS.UsedBytes > rootFS.TotalBytes {
		t.Errorf("root file system: %+v in %+v", rootFS, h.Filesystems)
	}
	// The mistake systemd-detect-virt makes on VMs booted from container images: a leftover
	// /.dockerenv is not a container when PID 1's root is not an overlay.
	if _, err := os.Stat("/.dockerenv"); err == nil && rootFSType("/") != "overlay" && h.Virtualization.Container != "" {
		t.Errorf("container %q from a leftover /.dockerenv", h.Virtualization.Container)
	}
	t.Logf("virtualization %+v", h.Virtualization)
}

func TestParseOSRelease(t *testing.T) {
	kv := ParseOSRelease([]byte("# comment\nNAME=\"Foo \\\"Linux\\\"\"\nID=foo\nVERSION_ID='1.0'\nbad line\n=x\nEMPTY=\nK-1=v\n"))
	want := map[string]string{"NAME": `Foo "Linux"`, "ID": "foo", "VERSION_ID": "1.0", "EMPTY": ""}
	if len(kv) != len(want) {
		t.Errorf("got %q", kv)
	}
	for k, v := range want {
		if kv[k] != v {
			t.Errorf("%s = %q, want %q", k, kv[k], v)
		}
	}
}

func FuzzParseOSRelease(f *testing.F) {
	for _, name := range fixtureRoots {
		for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
			if b, err := os.ReadFile(filepath.Join(fixture.Roots(f), name, p)); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		kv := ParseOSRelease(b)
		if len(kv) > 64 {
			t.Fatalf("%d keys", len(kv))
		}
		for k, v := range kv {
			if k == "" || len(v) > 1024 {
				t.Fatalf("key %q value of %d bytes", k, len(v))
			}
		}
	})
}

func BenchmarkCollectLive(b *testing.B) {
	s := New(Options{Root: "/", StateDir: b.TempDir()})
	b.ReportAllocs()
	for b.Loop() {
		if res, _ := s.Collect(context.Background()); res.Host == nil {
			b.Fatal("no host")
		}
	}
}

func BenchmarkDetectVirtualization(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		detectVirtualization("/")
	}
}

func TestParseMountinfo(t *testing.T) {
	ms := ParseMountinfo([]byte("36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue\nshort line\n37 35 0:5 / /ro ro - tmpfs tmpfs ro\n"))
	if len(ms) != 2 {
		t.Fatalf("got %+v", ms)
	}
	if m := ms[0]; m.Root != "/mnt1" || m.Mountpoint != "/mnt/with space" || m.Type != "ext3" || m.Device != "/dev/root" || m.ReadOnly {
		t.Errorf("first = %+v", m)
	}
	if !ms[1].ReadOnly {
		t.Errorf("second = %+v", ms[1])
	}
}

func FuzzParseMountinfo(f *testing.F) {
	for _, name := range fixtureRoots {
		if b, err := os.ReadFile(filepath.Join(fixture.Roots(f), name, "proc/1/mountinfo")); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ms := ParseMountinfo(b)
		if len(ms) > bytes.Count(b, []byte("\n"))+1 {
			t.Fatalf("%d mounts from %d lines", len(ms), bytes.Count(b, []byte("\n"))+1)
		}
		for _, m := range ms {
			if m.Type == "" || m.Device == "" || len(m.Mountpoint) > len(b) {
				t.Fatalf("bad mount %+v", m)
			}
		}
	})
}
