package host

import (
	"context"
	"errors"
	"maps"
	"os"
	"runtime"
	"strings"

	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/mem"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/agent/source/plist"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// On macOS (Options.MacOS) the source reads, under the host root, instead of the Linux
// files: /System/Library/CoreServices/SystemVersion.plist (the OS: ProductName,
// ProductVersion, ProductBuildVersion; ID and family "macos") and
// /Library/Preferences/SystemConfiguration/preferences.plist (the names System.System's
// HostName, else ComputerName, else Network.HostNames' LocalHostName, when the root is not
// the host itself). macOS keeps no machine-id: the ID is the one generated and kept in the
// state directory. Kernel release, CPU, memory and interfaces are only read on the host
// itself (a darwin agent reading "/"): under a mounted root they would be the reader's.
const (
	// SystemVersionPlist is the file whose presence makes a host root a macOS one.
	SystemVersionPlist = "/System/Library/CoreServices/SystemVersion.plist"
	preferencesPlist   = "/Library/Preferences/SystemConfiguration/preferences.plist"
)

// IsMacOS reports whether the host root r holds macOS: it has SystemVersion.plist.
func IsMacOS(r hostfs.Root) bool {
	fi, err := r.Stat(SystemVersionPlist)
	return err == nil && fi.Mode().IsRegular()
}

// collectMacOS collects the facts of a macOS host.
func (s *Source) collectMacOS(ctx context.Context) (source.Result, error) {
	r := s.opts.Root
	live := (r == "/" || r == "") && runtime.GOOS == "darwin"
	h := &model.Host{Labels: maps.Clone(s.opts.Labels)}
	var errs []error
	var err error
	if h.ID, h.IDSource, err = hostID(r, s.opts.StateDir); err != nil {
		errs = append(errs, err)
	}
	if h.OS, err = readMacOS(r); err != nil {
		errs = append(errs, err)
	}
	if live {
		h.Hostname, _ = os.Hostname()
		h.Kernel, h.Arch = darwinRelease(), unameMachine()
		errs = append(errs, macCapacity(ctx, h, s))
	} else {
		h.Hostname = macHostname(r)
	}
	h.FQDN = fqdn(r, h.Hostname)
	st := protocol.State{Host: *h}
	protocol.CleanState(&st)
	*h = st.Host
	return source.Result{Host: h}, errors.Join(errs...)
}

// readMacOS reads SystemVersion.plist.
func readMacOS(r hostfs.Root) (model.OS, error) {
	b, err := r.ReadFile(SystemVersionPlist, 1<<20)
	if err != nil {
		return model.OS{}, wrap("SystemVersion.plist", err)
	}
	d, err := plist.DecodeDict(b)
	if err != nil {
		return model.OS{}, wrap("SystemVersion.plist", err)
	}
	return MacOSRelease(d), nil
}

// MacOSRelease makes the OS facts of a decoded SystemVersion.plist: macOS 14.5 (build
// 23F79) is ID "macos", name "macOS", version ID "14.5", version "14.5 (23F79)", pretty
// name "macOS 14.5 (23F79)", family "macos".
func MacOSRelease(d plist.Dict) model.OS {
	name := strings.TrimSpace(d.String("ProductName"))
	if name == "" || name == "Mac OS X" {
		name = "macOS" // what Apple has called it since 10.12, older releases say Mac OS X
	}
	o := model.OS{ID: "macos", Family: "macos", Name: name, VersionID: strings.TrimSpace(d.String("ProductVersion"))}
	o.Version = o.VersionID
	if build := strings.TrimSpace(d.String("ProductBuildVersion")); build != "" {
		o.Version = strings.TrimSpace(o.Version + " (" + build + ")")
	}
	o.PrettyName = strings.TrimSpace(name + " " + o.Version)
	return o
}

// macHostname reads the host's names from the system configuration's preferences.
func macHostname(r hostfs.Root) string {
	b, err := r.ReadFile(preferencesPlist, 4<<20)
	if err != nil {
		return ""
	}
	d, err := plist.DecodeDict(b)
	if err != nil {
		return ""
	}
	sys := d.Dict("System").Dict("System")
	for _, v := range []string{sys.String("HostName"), sys.String("ComputerName"),
		d.Dict("Network").Dict("HostNames").String("LocalHostName")} {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// macCapacity fills CPU, memory and interfaces on the host itself.
func macCapacity(ctx context.Context, h *model.Host, s *Source) error {
	var errs []error
	if infos, err := cpu.InfoWithContext(ctx); err == nil && len(infos) > 0 {
		h.CPU.Model, h.CPU.Sockets = strings.TrimSpace(infos[0].ModelName), 1
	} else if err != nil {
		errs = append(errs, wrap("cpu", err))
	}
	h.CPU.Cores, _ = cpu.CountsWithContext(ctx, false)
	h.CPU.Threads, _ = cpu.CountsWithContext(ctx, true)
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		h.Memory.TotalBytes, h.Memory.AvailableBytes = vm.Total, vm.Available
	} else {
		errs = append(errs, wrap("memory", err))
	}
	ifs, err := interfaces(ctx, s.opts.InterfaceExclude)
	if err != nil {
		errs = append(errs, err)
	}
	h.Interfaces = ifs
	return errors.Join(errs...)
}
