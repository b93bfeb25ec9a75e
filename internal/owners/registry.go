package owners

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/onus-project/onus/internal/model"
)

// Kind is an asset kind: host, software or service.
type Kind string

// The asset kinds.
const (
	KindHost     Kind = "host"
	KindSoftware Kind = "software"
	KindService  Kind = "service"
)

// Kinds lists the asset kinds in the order reports show them.
var Kinds = []Kind{KindHost, KindSoftware, KindService}

func (k Kind) valid() bool { return k == KindHost || k == KindSoftware || k == KindService }

// The states of an owner.
const (
	StateActive  = "active"
	StateRetired = "retired"
)

// Registry is the declared ownership of the fleet: who the owners are, the rules that map
// assets to them, and explicit assignments. It is what owners.yaml holds and what the
// collector keeps in etcd.
type Registry struct {
	Owners      []Owner      `json:"owners,omitempty" yaml:"owners,omitempty"`
	Rules       []Rule       `json:"rules,omitempty" yaml:"rules,omitempty"`
	Assignments []Assignment `json:"assignments,omitempty" yaml:"assignments,omitempty"`
}

// Owner is a team or a person accountable for assets.
type Owner struct {
	ID      string  `json:"id" yaml:"id"`
	Name    string  `json:"name,omitempty" yaml:"name,omitempty"`
	Contact Contact `json:"contact,omitzero" yaml:"contact,omitempty"`
	// Escalation is the ordered list of contacts to try when the owner does not answer.
	Escalation []string `json:"escalation,omitempty" yaml:"escalation,omitempty"`
	// Users are the accounts on hosts that act for this owner (people's logins, service
	// accounts), as globs: "alice", "svc-web-*". Where no rule or assignment gives an asset an
	// owner, an installation made by one of them, a file one of them owns, or a service that
	// runs as one of them suggests this owner; a suggestion is shown, never applied.
	Users []string `json:"users,omitempty" yaml:"users,omitempty"`
	// Parent is the owner this one belongs to, e.g. the department of a team.
	Parent string `json:"parent,omitempty" yaml:"parent,omitempty"`
	// State is "active" or "retired"; Load and DecodeJSON turn an empty state into "active".
	// The assets of a retired owner are orphaned.
	State string `json:"state,omitempty" yaml:"state,omitempty"`
}

// Retired reports whether the owner is retired.
func (o Owner) Retired() bool { return o.State == StateRetired }

// Contact is how an owner is reached.
type Contact struct {
	Email string `json:"email,omitempty" yaml:"email,omitempty"`
	Chat  string `json:"chat,omitempty" yaml:"chat,omitempty"`
}

// Rule gives the assets of one kind that its selector matches to an owner.
type Rule struct {
	ID    string   `json:"id" yaml:"id"`
	Kind  Kind     `json:"kind" yaml:"kind"`
	Match Selector `json:"match" yaml:"match"`
	// Owner is who the matched assets belong to. A rule with Inherit set has no owner: the
	// services a service rule matches belong to the owner of the host they run on, the
	// software a software rule matches to the owner of the users who installed it
	// (Owner.Users).
	Owner       string `json:"owner,omitempty" yaml:"owner,omitempty"`
	Inherit     bool   `json:"inherit,omitempty" yaml:"inherit,omitempty"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
}

// Selector says which assets a rule matches. Every field that is set must match; string
// fields are globs in path.Match syntax (so "*" does not match a "/"). Which fields a rule
// may use depends on its kind:
//
//   - host: host_id, hostname, fqdn, os, os_family, labels;
//   - software: source, name, maintainer, vendor, section, origin;
//   - service: name (the unit name), manager, port, and the host fields, which select the
//     hosts the service runs on.
//
// A selector with no field matches nothing and is refused; a rule for every asset of its
// kind says all: true.
type Selector struct {
	All bool `json:"all,omitempty" yaml:"all,omitempty"`

	HostID   string `json:"host_id,omitempty" yaml:"host_id,omitempty"`
	Hostname string `json:"hostname,omitempty" yaml:"hostname,omitempty"`
	FQDN     string `json:"fqdn,omitempty" yaml:"fqdn,omitempty"`
	// OS is the os-release ID (debian, rocky, …), OSFamily the family (debian, rhel, …).
	OS       string `json:"os,omitempty" yaml:"os,omitempty"`
	OSFamily string `json:"os_family,omitempty" yaml:"os_family,omitempty"`
	// Labels maps a label name to a glob its value must match; the label must be present.
	Labels map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`

	Source     string `json:"source,omitempty" yaml:"source,omitempty"`
	Name       string `json:"name,omitempty" yaml:"name,omitempty"`
	Maintainer string `json:"maintainer,omitempty" yaml:"maintainer,omitempty"`
	Vendor     string `json:"vendor,omitempty" yaml:"vendor,omitempty"`
	Section    string `json:"section,omitempty" yaml:"section,omitempty"`
	Origin     string `json:"origin,omitempty" yaml:"origin,omitempty"`
	// InstalledBy and Location select software by its installations: who installed one
	// (model.InstallInfo.InstalledBy, else the installation's User) and where one is. A
	// title matches when one of its installations on the fleet does.
	InstalledBy string `json:"installed_by,omitempty" yaml:"installed_by,omitempty"`
	Location    string `json:"location,omitempty" yaml:"location,omitempty"`

	Manager string `json:"manager,omitempty" yaml:"manager,omitempty"`
	// Port selects listening-port services: "5432", "tcp/5432", "udp/8000-8099".
	Port string `json:"port,omitempty" yaml:"port,omitempty"`
}

// Assignment gives one asset to an owner, whatever the rules say.
type Assignment struct {
	Kind Kind `json:"kind" yaml:"kind"`
	// Asset is the asset's key: a host ID, a software title ("deb:nginx") or a service
	// title ("systemd:nginx.service", "port:tcp/5432").
	Asset string `json:"asset" yaml:"asset"`
	Owner string `json:"owner" yaml:"owner"`
}

// HostAttrs are the attributes of a host that rules can match.
type HostAttrs struct {
	ID       string
	Hostname string
	FQDN     string
	OS       string // os-release ID
	OSFamily string
	Labels   map[string]string
}

// HostAttrsOf returns the attributes of an inventoried host.
func HostAttrsOf(h model.Host) HostAttrs {
	return HostAttrs{ID: h.ID, Hostname: h.Hostname, FQDN: h.FQDN, OS: h.OS.ID, OSFamily: h.OS.Family, Labels: h.Labels}
}

// TitleAttrs are the attributes of a software title that rules can match.
type TitleAttrs struct {
	Source     string
	Name       string
	Maintainer string
	Vendor     string
	Section    string
	Origin     string
	// InstalledBy and Locations are the distinct installers (model.InstallInfo.InstalledBy,
	// else User) and locations of the title's installations on the fleet, most hosts first.
	// They are filled only when the resolver uses them (Resolver.UsesInstallations).
	InstalledBy []string
	Locations   []string
}

// TitleAttrsOf returns the attributes of the title of an installed package.
func TitleAttrsOf(p model.Package) TitleAttrs {
	return TitleAttrsFrom(p.Source, p.Name, &p.PackageInfo)
}

// TitleAttrsFrom returns the attributes of the title (source, name) that info describes:
// the descriptive fields rules can match, the only place that picks them.
func TitleAttrsFrom(source, name string, info *model.PackageInfo) TitleAttrs {
	return TitleAttrs{Source: source, Name: name, Maintainer: info.Maintainer, Vendor: info.Vendor, Section: info.Section, Origin: info.Origin}
}

// Key returns the title's asset key, "source:name".
func (t TitleAttrs) Key() string { return model.TitleKey(t.Source, t.Name) }

// ServiceAttrs is a service title: a unit of a service manager, or a listening port. A
// service instance is a service title on a host.
type ServiceAttrs struct {
	// Manager ("systemd") and Name ("nginx.service") are set for a unit.
	Manager string
	Name    string
	// Protocol ("tcp" or "udp") and Port are set for a listening port.
	Protocol string
	Port     uint16
}

// UnitService returns the title of a unit of a service manager.
func UnitService(manager, name string) ServiceAttrs {
	return ServiceAttrs{Manager: manager, Name: name}
}

// PortService returns the title of a listening port. IPv6 sockets belong to the same
// title as IPv4 ones: "tcp6" is "tcp".
func PortService(protocol string, port uint16) ServiceAttrs {
	return ServiceAttrs{Protocol: strings.TrimSuffix(protocol, "6"), Port: port}
}

// IsPort reports whether the title is a listening port.
func (s ServiceAttrs) IsPort() bool { return s.Manager == "" && s.Protocol != "" }

// Key returns the title's asset key: "systemd:nginx.service" or "port:tcp/5432".
func (s ServiceAttrs) Key() string {
	if s.IsPort() {
		return "port:" + s.Protocol + "/" + strconv.Itoa(int(s.Port))
	}
	return s.Manager + ":" + s.Name
}

// ParseServiceKey parses a service title's asset key.
func ParseServiceKey(key string) (ServiceAttrs, error) {
	prefix, rest, ok := strings.Cut(key, ":")
	if !ok || prefix == "" || rest == "" {
		return ServiceAttrs{}, fmt.Errorf("service %q: want manager:unit (systemd:nginx.service) or port:protocol/number (port:tcp/5432)", key)
	}
	if prefix != "port" {
		if !isToken(prefix) || strings.ContainsFunc(rest, badAssetRune) {
			return ServiceAttrs{}, fmt.Errorf("service %q: want manager:unit, e.g. systemd:nginx.service", key)
		}
		return UnitService(prefix, rest), nil
	}
	proto, num, ok := strings.Cut(rest, "/")
	if !ok || (proto != "tcp" && proto != "udp") {
		return ServiceAttrs{}, fmt.Errorf("service %q: want port:tcp/N or port:udp/N", key)
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != num {
		return ServiceAttrs{}, fmt.Errorf("service %q: port %q is not a number from 1 to 65535", key, num)
	}
	return PortService(proto, uint16(n)), nil
}

// ParseSoftwareKey parses a software title's asset key, "source:name".
func ParseSoftwareKey(key string) (TitleAttrs, error) {
	src, name, ok := model.SplitTitleKey(key)
	if !ok || !isToken(src) || name == "" || strings.ContainsFunc(name, badAssetRune) {
		return TitleAttrs{}, fmt.Errorf("software %q: want source:name, e.g. deb:nginx", key)
	}
	return TitleAttrs{Source: src, Name: name}, nil
}

// isToken reports whether s is a non-empty run of lower-case letters and digits, like a
// package source ("deb") or a service manager ("systemd").
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// badAssetRune reports characters no asset key has: white space and control characters.
func badAssetRune(r rune) bool { return r <= ' ' || r == 0x7f }
