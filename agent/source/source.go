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

// The optional interfaces below tell the agent what it must know of a source beyond what
// Collect returns, so that nothing outside the source's own package keeps a list of sources:
// a new source is its package and one line in the platform's list (inventory.Sources).

// PackageSource is implemented by the sources of package databases.
type PackageSource interface {
	Source
	// PackageFormat is the Package.Source of every package the source produces ("deb" for
	// dpkg). It names the version ordering the collector applies to them
	// (protocol.CompareVersions), and when a read fails, the agent keeps the previous
	// read's packages of this format instead.
	PackageFormat() string
}

// Parts are parts of the inventory other than packages, as a set.
type Parts uint8

// The parts a source may produce.
const (
	PartHost      Parts = 1 << iota // the host's facts (its labels come from the configuration)
	PartListeners                   // all the listening sockets
)

// Producer is implemented by sources that produce parts of the inventory other than
// packages. When one of their reads fails, the agent keeps the previous read's parts
// instead, so that a momentarily unreadable subsystem does not look like everything it knows
// of gone. Those parts are taken whole: one source produces each.
type Producer interface {
	Produces() Parts
}

// ServiceSource is implemented by the sources of services. When one of their reads fails,
// the agent keeps the previous read's services of these managers (model.Service.Manager)
// instead: systemd's units and a container runtime's containers are read apart, and one
// failing does not hide the other's.
type ServiceSource interface {
	ServiceManagers() []string
}

// Lock is one way a package manager shows that it is writing its database.
type Lock struct {
	// Path is absolute, under the host root.
	Path string
	// Fcntl: a POSIX or OFD lock on Path shows it. Otherwise Path's existence does.
	Fcntl bool
}

// Locker is implemented by sources whose package manager takes locks while it writes its
// database: after a change of the watch paths, the agent reads again only once none of them
// is held (or after a bounded wait), not halfway through a transaction.
type Locker interface {
	Locks() []Lock
}

// Traits is what the optional interfaces of one source say, gathered once.
type Traits struct {
	Name            string
	PackageFormat   string   // "" for a source of no packages
	ServiceManagers []string // nil for a source of no services
	Produces        Parts
	Locks           []Lock
}

// TraitsOf returns what s says of itself through the optional interfaces it implements.
func TraitsOf(s Source) Traits {
	t := Traits{Name: s.Name()}
	if p, ok := s.(PackageSource); ok {
		t.PackageFormat = p.PackageFormat()
	}
	if p, ok := s.(ServiceSource); ok {
		t.ServiceManagers = p.ServiceManagers()
	}
	if p, ok := s.(Producer); ok {
		t.Produces = p.Produces()
	}
	if l, ok := s.(Locker); ok {
		t.Locks = l.Locks()
	}
	return t
}
