package inventory

import (
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/agent/source/host"
	"github.com/onus-project/onus/agent/source/winprog"
)

// Sources lists the inventory sources of a Windows host, in the order they run: its facts,
// then the installed programs and the services.
func Sources(o SourceOptions) []source.Source {
	return []source.Source{
		host.New(host.Options{Root: o.Root, StateDir: o.StateDir, Labels: o.Labels}),
		winprog.New(winprog.System()),
		winprog.NewServices(winprog.System()),
	}
}
