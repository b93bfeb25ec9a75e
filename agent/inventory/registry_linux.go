package inventory

import (
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/agent/source/apk"
	"github.com/onus-project/onus/agent/source/brew"
	"github.com/onus-project/onus/agent/source/cargo"
	"github.com/onus-project/onus/agent/source/container"
	"github.com/onus-project/onus/agent/source/dpkg"
	"github.com/onus-project/onus/agent/source/files"
	"github.com/onus-project/onus/agent/source/flatpak"
	"github.com/onus-project/onus/agent/source/gem"
	"github.com/onus-project/onus/agent/source/gobin"
	"github.com/onus-project/onus/agent/source/host"
	"github.com/onus-project/onus/agent/source/kmod"
	"github.com/onus-project/onus/agent/source/npm"
	"github.com/onus-project/onus/agent/source/pacman"
	"github.com/onus-project/onus/agent/source/ports"
	"github.com/onus-project/onus/agent/source/pypi"
	"github.com/onus-project/onus/agent/source/rpm"
	"github.com/onus-project/onus/agent/source/snap"
	"github.com/onus-project/onus/agent/source/systemd"
)

// Sources lists the inventory sources of a Linux host, in the order they run. Each package
// database source reports "not present" on distributions that do not use it. A host root
// that holds macOS (IsMacOS) gets the macOS sources instead.
func Sources(o SourceOptions) []source.Source {
	if IsMacOS(o.Root) {
		return MacOSSources(o)
	}
	return []source.Source{
		host.New(host.Options{Root: o.Root, StateDir: o.StateDir, Labels: o.Labels}),
		dpkg.New(o.Root),
		rpm.New(o.Root),
		apk.New(o.Root),
		pacman.New(o.Root),
		systemd.New(systemd.Options{Root: o.Root, Logger: o.Logger}),
		ports.New(o.Root),
		kmod.New(o.Root),
		container.New(container.Options{Root: o.Root, Logger: o.Logger}),
		files.New(files.Options{Root: o.Root, StateDir: o.StateDir}),
		gem.New(o.Root),
		cargo.New(o.Root),
		gobin.New(o.Root),
		pypi.NewWithState(o.Root, o.StateDir),
		npm.New(o.Root),
		snap.New(o.Root),
		flatpak.New(o.Root),
		brew.New(o.Root),
		brew.NewCasks(o.Root),
	}
}
