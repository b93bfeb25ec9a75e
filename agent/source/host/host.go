// Package host collects the host's facts and capacity: identity, names, OS, kernel,
// virtualization, boot time, CPU, memory, filesystems and network interfaces.
//
// It reads, under the host root: /etc/machine-id and /sys/class/dmi/id/product_uuid (identity),
// /etc/hostname and /proc/sys/kernel/{hostname,osrelease,arch}, /etc/hosts (FQDN),
// /etc/os-release or /usr/lib/os-release, /proc/cpuinfo, /proc/meminfo, /proc/stat,
// /proc/1/mountinfo, /proc/filesystems, /proc/cmdline, /proc/1/{environ,cgroup},
// /sys/class/dmi/id/*, /sys/hypervisor/type, /sys/devices/system/clocksource, /proc/device-tree,
// /run/systemd/container, /run/.containerenv and /.dockerenv (virtualization); it calls statfs
// on each mount point under the root. Network interfaces are those of the network namespace
// the agent runs in: run it in the host's (hostNetwork) to see the host's.
//
// On a macOS host (Options.MacOS) it reads macOS's own files instead (see IsMacOS and
// MacOSRelease).
package host

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"strings"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// DefaultInterfaceExclude matches the interfaces left out by default: loopback and the
// per-container virtual ends that come and go with every pod or container.
var DefaultInterfaceExclude = regexp.MustCompile(`^(lo|veth.*|cali.*|lxc.*|tap.*|[a-f0-9]{15})$`)

// Options configure the host source. The zero value reads "/" and keeps no generated ID.
type Options struct {
	// Root is the host root, "/" by default.
	Root hostfs.Root
	// StateDir is where a generated host ID is kept when the host has neither a machine-id
	// nor an SMBIOS product UUID. Without it, such a host gets an error for this source.
	StateDir string
	// Labels are copied into the host facts.
	Labels map[string]string
	// InterfaceExclude names the interfaces not reported; DefaultInterfaceExclude when nil.
	InterfaceExclude *regexp.Regexp
	// MacOS reads the facts of a macOS host (see IsMacOS) instead of a Linux one's.
	MacOS bool
}

// Source collects host facts.
type Source struct {
	opts Options
}

// New returns a host source.
func New(opts Options) *Source {
	if opts.Root == "" {
		opts.Root = "/"
	}
	if opts.InterfaceExclude == nil {
		opts.InterfaceExclude = DefaultInterfaceExclude
	}
	return &Source{opts: opts}
}

// Name implements source.Source.
func (*Source) Name() string { return "host" }

// Produces implements source.Producer.
func (*Source) Produces() source.Parts { return source.PartHost }

// Collect implements source.Source. Facts that cannot be read are left empty and reported
// together in the error, so one unreadable file does not hide the rest.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	if s.opts.MacOS {
		return s.collectMacOS(ctx)
	}
	r := s.opts.Root
	h := &model.Host{Labels: maps.Clone(s.opts.Labels)}
	var errs []error
	var err error
	if h.ID, h.IDSource, err = hostID(r, s.opts.StateDir); err != nil {
		errs = append(errs, err)
	}
	h.Hostname = hostname(r)
	h.FQDN = fqdn(r, h.Hostname)
	if h.OS, err = readOS(r); err != nil && !hostfs.NotPresent(err) {
		errs = append(errs, err)
	}
	h.Kernel = firstLine(r, "/proc/sys/kernel/osrelease")
	if h.Arch = firstLine(r, "/proc/sys/kernel/arch"); h.Arch == "" && (r == "/" || r == "") {
		h.Arch = unameMachine()
	}
	h.Virtualization = detectVirtualization(r)
	if err := capacity(ctx, r, h, s.opts.InterfaceExclude); err != nil {
		errs = append(errs, err)
	}
	// Any of these files may hold any byte (os-release, a mount point named by a user, a
	// hostname): the facts leave as text a report carries, cleaned as the protocol cleans.
	// Mount points were used raw above, for statfs.
	st := protocol.State{Host: *h}
	protocol.CleanState(&st)
	*h = st.Host
	return source.Result{Host: h}, errors.Join(errs...)
}

// firstLine returns the first line of a small file, trimmed; empty if it cannot be read.
func firstLine(r hostfs.Root, p string) string {
	b, err := r.ReadFile(p, 64<<10)
	if err != nil {
		return ""
	}
	s, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(s)
}

// hostname returns the host's name. On the host itself the kernel's; under another root the
// configured one, since /proc/sys/kernel/hostname shows the reader's own UTS namespace.
func hostname(r hostfs.Root) string {
	if r == "/" || r == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			return h
		}
	}
	if h := firstLine(r, "/etc/hostname"); h != "" && !strings.HasPrefix(h, "#") {
		return h
	}
	return firstLine(r, "/proc/sys/kernel/hostname")
}

// fqdn finds the host's fully qualified name without asking DNS: the hostname itself when it
// has a dot, else the canonical name of the /etc/hosts line that lists the hostname.
func fqdn(r hostfs.Root, host string) string {
	if host == "" {
		return ""
	}
	if strings.Contains(host, ".") {
		return host
	}
	b, err := r.ReadFile("/etc/hosts", 1<<20)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		for _, name := range f[2:] {
			if name == host && strings.HasPrefix(f[1], host+".") {
				return f[1]
			}
		}
	}
	return ""
}

func wrap(what string, err error) error { return fmt.Errorf("%s: %w", what, err) }
