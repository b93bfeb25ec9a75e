// Package source defines what an inventory source is: one package per database or subsystem
// (dpkg, rpm, apk, pacman, systemd, ports, host), each reading under an injected host root.
package source

import (
	"context"
	"errors"

	"github.com/onus-project/onus/internal/model"
)

// ErrNotPresent is returned by Collect when the source's database or subsystem does not exist
// on this host (no rpm database on Debian, say). It is not a failure.
var ErrNotPresent = errors.New("not present on this host")

// Result is what one source found. A source fills only the parts it knows about.
type Result struct {
	Host      *model.Host
	Software  []model.Package
	Services  []model.Service
	Listeners []model.Listener
	// Skipped counts malformed records that were skipped instead of failing the source.
	Skipped int
}

// Items is the number of records in r.
func (r Result) Items() int {
	n := len(r.Software) + len(r.Services) + len(r.Listeners)
	if r.Host != nil {
		n++
	}
	return n
}

// Source is one inventory source.
type Source interface {
	// Name is a short lower-case identifier: "dpkg", "rpm", "systemd"...
	Name() string
	// Collect reads the source. It returns ErrNotPresent (possibly wrapped) when the source
	// does not exist on the host, and another error when it exists but cannot be read.
	// A partial Result may accompany an error.
	Collect(ctx context.Context) (Result, error)
}

// Watcher is implemented by sources whose data changes when files change: the agent watches
// these paths (absolute, under the host root) and re-collects the source when they change.
type Watcher interface {
	WatchPaths() []string
}
