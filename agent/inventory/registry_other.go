//go:build !linux && !darwin && !windows

package inventory

import (
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/agent/source/host"
)

// Sources lists the inventory sources of a host whose package databases the agent does not
// read yet: its facts only; a host root that holds macOS (IsMacOS) gets the macOS sources.
func Sources(o SourceOptions) []source.Source {
	if IsMacOS(o.Root) {
		return MacOSSources(o)
	}
	return []source.Source{
		host.New(host.Options{Root: o.Root, StateDir: o.StateDir, Labels: o.Labels}),
	}
}
