package reporter

import (
	"slices"

	"github.com/onus-project/onus/agent/source"
)

// sourceTraits is what the inventory's sources say of themselves, by source name: which read
// package databases and of which format, what their failed reads keep, which locks their
// package managers hold. The reporter knows of no source by name: it asks these.
type sourceTraits map[string]source.Traits

func newSourceTraits(ts []source.Traits) sourceTraits {
	out := make(sourceTraits, len(ts))
	for _, t := range ts {
		out[t.Name] = t
	}
	return out
}

// traitsOf returns the traits of the sources ss (for tests that build states by hand).
func traitsOf(ss ...source.Source) sourceTraits {
	ts := make([]source.Traits, len(ss))
	for i, s := range ss {
		ts[i] = source.TraitsOf(s)
	}
	return newSourceTraits(ts)
}

// packageSources returns the names of the package database sources, sorted.
func (st sourceTraits) packageSources() []string {
	var out []string
	for name, t := range st {
		if t.PackageFormat != "" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// locks returns, per source name, the locks of the sources that have any.
func (st sourceTraits) locks() map[string][]source.Lock {
	out := map[string][]source.Lock{}
	for name, t := range st {
		if len(t.Locks) > 0 {
			out[name] = t.Locks
		}
	}
	return out
}
