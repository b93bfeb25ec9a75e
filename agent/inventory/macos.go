package inventory

import (
	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/agent/source/brew"
	"github.com/onus-project/onus/agent/source/host"
	"github.com/onus-project/onus/agent/source/launchd"
	"github.com/onus-project/onus/agent/source/macapps"
	"github.com/onus-project/onus/agent/source/pkgutil"
)

// MacOSSources lists the inventory sources of a macOS host, in the order they run: file
// readers only, so that they read a macOS root mounted on any system as they read the
// host itself. They run on darwin, and on other systems wherever the host root is a macOS
// one (IsMacOS).
func MacOSSources(o SourceOptions) []source.Source {
	return []source.Source{
		host.New(host.Options{Root: o.Root, StateDir: o.StateDir, Labels: o.Labels, MacOS: true}),
		macapps.New(o.Root),
		pkgutil.New(o.Root),
		// Package managers and service managers of macOS that run on Linux too.
		brew.New(o.Root),
		brew.NewCasks(o.Root),
		launchd.New(o.Root),
		// Further macOS sources go here, each a reader of files under o.Root.
	}
}

// IsMacOS reports whether the host root holds macOS rather than the system the agent runs
// on: it has /System/Library/CoreServices/SystemVersion.plist.
func IsMacOS(root hostfs.Root) bool { return host.IsMacOS(root) }
