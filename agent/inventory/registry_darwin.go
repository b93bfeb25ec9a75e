package inventory

import "github.com/onus-project/onus/agent/source"

// Sources lists the inventory sources of a macOS host: MacOSSources, on the host itself as
// under a mounted macOS root.
func Sources(o SourceOptions) []source.Source { return MacOSSources(o) }
