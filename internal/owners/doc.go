// Package owners is the ownership registry of Onus and the engine that resolves the owner
// of every asset: owners, rules and assignments (the content of owners.yaml), a strict
// loader with precise errors, a Resolver, coverage counts and the Diff an apply --dry-run
// prints. It is a pure library: the collector stores the registry in etcd and calls it.
//
// # Loading
//
// Load reads owners.yaml strictly: unknown fields, repeated keys and values of the wrong
// type are errors, and so is anything validation refuses (unknown owners, cycles of
// parents, patterns that do not compile, fields a kind of rule cannot use, selectors that
// match nothing by accident). It reports every problem it finds, sorted, each as an *Error
// with the file, line and column (YAML syntax errors: line only, as the parser gives no
// column). DecodeJSON and Validate do the same for the JSON of the API, naming paths
// (rules[3].match.port) instead of positions. What loads marshals back to YAML or JSON and
// loads again equal.
//
// # Assets
//
// A host's key is its host ID. A software title's key is "source:name" ("deb:nginx"); it
// has one owner fleet-wide. A service title is a unit of a service manager
// ("systemd:nginx.service") or a listening port ("port:tcp/5432", IPv6 sockets included);
// a service instance is a service title on a host, and that is what service coverage
// counts, since the same unit can belong to different owners on different hosts.
//
// # Precedence
//
// An assignment beats every rule. Among the rules of the asset's kind that match, the most
// specific wins, and among equally specific ones the first in the file. Specificity
// compares, in order:
//
//  1. the number of constrained fields of the asset itself: each selector field counts
//     one, and each label of a host rule; a field whose pattern is "*" counts none (it
//     constrains nothing, all: true neither), but a label does, since it must be present;
//  2. for service rules, the number of constrained fields of the host the service runs
//     on (host_id, hostname, fqdn, os, os_family, each label): a rule about the service
//     beats a rule about its host, and of two rules about the service, the one that also
//     selects hosts wins;
//  3. the number of exact fields, whose patterns have no wildcard; a port is exact when it
//     names a protocol and a single port;
//  4. the number of literal characters in the patterns that have wildcards, so that the
//     longer literal text wins: "libpython3*" (10) beats "lib*" (3), "*.service" (8)
//     beats "nginx*" (5); "?" and [classes] count none. A single port without protocol
//     counts two and a range with a protocol one: tcp/5432 beats 5432 beats tcp/1-1024
//     beats 1-1024.
//
// Exact values are not compared by length: labels {role: db} and {env: prod} are equally
// specific, and the rule written first wins.
//
// Globs use path.Match syntax and semantics: "*" does not match "/".
//
// # Services and inheritance
//
// Software never takes a host's owner: whoever owns a title answers for it on every host.
// A service rule may select the hosts a service runs on (host_id, hostname, fqdn, os,
// os_family, labels) besides the service itself (name and manager for units, port for
// ports). A service rule with inherit: true names no owner: the services it matches belong
// to the owner of their host, so "services on database hosts belong to whoever owns the
// host" is
//
//	{id: db-host-services, kind: service, match: {labels: {role: db}}, inherit: true}
//
// An inheriting rule competes with the other service rules by the same specificity, so a
// more specific rule (say name: "node-exporter.service") still wins. On a host with no
// owner an inheriting rule passes, and the next matching rule, if any, decides; on a host
// whose owner is retired, the service is orphaned like its host. Nothing inherits by
// default: without an inheriting rule, a service's owner does not depend on its host's.
//
// # Software and who installed it
//
// A software rule may select a title by its installations on the fleet (installed_by,
// location: it matches when one of them does), and a software rule with inherit: true gives
// a title to the owner of its installers: the first of TitleAttrs.InstalledBy (most
// installations first) that is one of an active owner's Users. Where none is, the rule
// passes, as an inheriting service rule does on a host without owner. The caller fills the
// installers and locations only when Resolver.UsesInstallations says a rule reads them.
//
// Resolving services is per instance but memoized per class of hosts, which is what the
// memo is keyed by, with the service title: two hosts are in the same class when the host
// parts of all service rules give the same results on both and, if a rule inherits, they
// have the same owner. A class is found once per host (ServicesOn); each service title then
// resolves once per class, and on every other host of the class costs a lookup in a table
// of titles shared by all classes and an array index, without a lock. Host attributes that
// no service rule names (hostnames, usually) do not split classes, so a fleet has few
// classes, however many hosts: BenchmarkResolveFleet resolves 13 million service instances
// of 100,000 hosts in under a second on one core.
//
// # Retired owners and departments
//
// A retired owner keeps what the rules and assignments give it, but those assets are
// orphaned: Resolution.Owner names the retired owner, Orphaned is set, and coverage counts
// them as unowned and, separately, as orphaned. Department returns the top of an owner's
// chain of parents (the department of a team; a department is its own); parent cycles are
// refused when the registry loads.
package owners
