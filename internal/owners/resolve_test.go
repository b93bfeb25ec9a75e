package owners

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// testRegistry exercises precedence: every rule is there for a case of TestResolve.
const testRegistry = `
owners:
  - {id: it}
  - {id: engineering}
  - {id: data}
  - {id: platform, parent: it}
  - {id: security, parent: it}
  - {id: web, parent: engineering}
  - {id: dba, parent: data}
  - {id: old, parent: it, state: retired}
rules:
  - {id: prod, kind: host, match: {labels: {env: prod}}, owner: platform}
  - {id: db, kind: host, match: {labels: {role: db}}, owner: dba}
  - {id: prod-db, kind: host, match: {labels: {role: db, env: prod}}, owner: security}
  - {id: db-names, kind: host, match: {hostname: "db-*"}, owner: web}
  - {id: legacy-hosts, kind: host, match: {hostname: "old-*"}, owner: old}
  - {id: any-team, kind: host, match: {labels: {team: "*"}}, owner: engineering}
  - {id: debian, kind: host, match: {os: debian}, owner: it}

  - {id: star, kind: software, match: {name: "*"}, owner: it}
  - {id: libs, kind: software, match: {name: "lib*"}, owner: platform}
  - {id: libpython, kind: software, match: {name: "libpython3*"}, owner: data}
  - {id: libpq, kind: software, match: {name: libpq5}, owner: dba}
  - {id: deb-libs, kind: software, match: {source: deb, name: "lib*"}, owner: security}
  - {id: tie-a, kind: software, match: {name: "tie-*"}, owner: web}
  - {id: tie-b, kind: software, match: {name: "*-tie"}, owner: dba}
  - {id: vendor, kind: software, match: {vendor: "Example*"}, owner: web}
  - {id: nagios, kind: software, match: {name: nagios}, owner: old}

  - {id: all-services, kind: service, match: {all: true}, owner: it}
  - {id: units-on-db, kind: service, match: {labels: {role: db}}, inherit: true}
  - {id: systemd-units, kind: service, match: {name: "systemd-*"}, owner: platform}
  - {id: nginx, kind: service, match: {name: nginx.service}, owner: web}
  - {id: prod-nginx, kind: service, match: {name: nginx.service, labels: {env: prod}}, owner: platform}
  - {id: pg-port, kind: service, match: {port: tcp/5432}, owner: dba}
  - {id: any-5432, kind: service, match: {port: "5432"}, owner: security}
  - {id: high-ports, kind: service, match: {port: 8000-8999}, owner: web}
  - {id: pinned, kind: service, match: {host_id: h-special, name: cron.service}, owner: security}
assignments:
  - {kind: host, asset: h-assigned, owner: security}
  - {kind: host, asset: h-old, owner: old}
  - {kind: software, asset: "deb:special", owner: web}
  - {kind: software, asset: "deb:nagios-plugins", owner: old}
  - {kind: service, asset: "port:tcp/9100", owner: platform}
`

func testResolver(t testing.TB) *Resolver {
	t.Helper()
	reg, err := Load("test.yaml", []byte(testRegistry))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewResolver(reg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// summary is a resolution in one line: "owner by type rule", "!" after an orphaned owner.
func summary(r Resolution) string {
	owner := r.Owner
	if owner == "" {
		owner = "-"
	}
	if r.Orphaned {
		owner += "!"
	}
	s := owner + " by " + r.Provenance.Type
	if r.Provenance.RuleID != "" {
		s += " " + r.Provenance.RuleID
	}
	return s
}

func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestResolveHost(t *testing.T) {
	r := testResolver(t)
	tests := []struct {
		name string
		host HostAttrs
		want string
	}{
		{"assignment beats every rule", HostAttrs{ID: "h-assigned", Labels: labels("role", "db", "env", "prod")}, "security by assignment"},
		{"assignment to a retired owner orphans", HostAttrs{ID: "h-old", Labels: labels("role", "db")}, "old! by assignment"},
		{"more fields win", HostAttrs{ID: "h1", Labels: labels("role", "db", "env", "prod")}, "security by rule prod-db"},
		{"one label", HostAttrs{ID: "h2", Labels: labels("role", "db")}, "dba by rule db"},
		{"exact beats glob", HostAttrs{ID: "h3", Hostname: "db-3", Labels: labels("role", "db")}, "dba by rule db"},
		{"glob", HostAttrs{ID: "h4", Hostname: "db-4"}, "web by rule db-names"},
		{"equally specific: first declared", HostAttrs{ID: "h5", OS: "debian", Labels: labels("env", "prod")}, "platform by rule prod"},
		{"equally specific, other order", HostAttrs{ID: "h6", OS: "debian", Labels: labels("role", "db")}, "dba by rule db"},
		{"a label with * must be present", HostAttrs{ID: "h7", Labels: labels("team", "")}, "engineering by rule any-team"},
		{"label absent", HostAttrs{ID: "h8", Labels: labels("tea", "x")}, "- by none"},
		{"rule of a retired owner orphans", HostAttrs{ID: "h9", Hostname: "old-1"}, "old! by rule legacy-hosts"},
		{"nothing matches", HostAttrs{ID: "h10", Hostname: "laptop", OS: "arch"}, "- by none"},
		{"label values are case sensitive", HostAttrs{ID: "h11", Labels: labels("role", "DB")}, "- by none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summary(r.ResolveHost(tt.host)); got != tt.want {
				t.Errorf("ResolveHost = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestResolveSoftware(t *testing.T) {
	r := testResolver(t)
	tests := []struct {
		name  string
		title TitleAttrs
		want  string
	}{
		{"assignment", TitleAttrs{Source: "deb", Name: "special"}, "web by assignment"},
		{"assignment to a retired owner", TitleAttrs{Source: "deb", Name: "nagios-plugins"}, "old! by assignment"},
		{"assignment is per source", TitleAttrs{Source: "rpm", Name: "special"}, "it by rule star"},
		{"more fields beat an exact name", TitleAttrs{Source: "deb", Name: "libpq5"}, "security by rule deb-libs"},
		{"exact beats glob", TitleAttrs{Source: "rpm", Name: "libpq5"}, "dba by rule libpq"},
		{"longer literal wins", TitleAttrs{Source: "rpm", Name: "libpython3.11"}, "data by rule libpython"},
		{"shorter literal", TitleAttrs{Source: "rpm", Name: "libfoo"}, "platform by rule libs"},
		{"tie: first declared", TitleAttrs{Source: "rpm", Name: "tie-tie"}, "web by rule tie-a"},
		{"no tie", TitleAttrs{Source: "rpm", Name: "x-tie"}, "dba by rule tie-b"},
		{"a field beats *", TitleAttrs{Source: "rpm", Name: "tool", Vendor: "Example Corp"}, "web by rule vendor"},
		{"* does not match /", TitleAttrs{Source: "go", Name: "example.com/tool"}, "- by none"},
		{"retired owner's rule", TitleAttrs{Source: "deb", Name: "nagios"}, "old! by rule nagios"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summary(r.ResolveSoftware(tt.title)); got != tt.want {
				t.Errorf("ResolveSoftware = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestResolveService(t *testing.T) {
	r := testResolver(t)
	dbHost := HostAttrs{ID: "h-db", Labels: labels("role", "db")}
	prodDB := HostAttrs{ID: "h-pdb", Labels: labels("role", "db", "env", "prod")}
	prodWeb := HostAttrs{ID: "h-web", Labels: labels("role", "web", "env", "prod")}
	plain := HostAttrs{ID: "h-plain"}
	special := HostAttrs{ID: "h-special"}
	orphanDB := HostAttrs{ID: "h-old", Labels: labels("role", "db")}
	tests := []struct {
		name      string
		svc       ServiceAttrs
		host      HostAttrs
		hostOwner *Resolution // nil: the host's resolution
		want      string
	}{
		{"inherits the host's owner", UnitService("systemd", "redis.service"), dbHost, nil, "dba by inherited units-on-db"},
		{"inherits on a prod db host too", UnitService("systemd", "redis.service"), prodDB, nil, "security by inherited units-on-db"},
		{"a rule about the service beats one about the host", UnitService("systemd", "systemd-journald.service"), dbHost, nil, "platform by rule systemd-units"},
		{"exact unit", UnitService("systemd", "nginx.service"), plain, nil, "web by rule nginx"},
		{"unit and host beat unit", UnitService("systemd", "nginx.service"), prodWeb, nil, "platform by rule prod-nginx"},
		{"unit beats inheritance", UnitService("systemd", "nginx.service"), dbHost, nil, "web by rule nginx"},
		{"host without owner: next rule", UnitService("systemd", "redis.service"), dbHost, &Resolution{}, "it by rule all-services"},
		{"host of a retired owner: orphaned", UnitService("systemd", "redis.service"), orphanDB, nil, "old! by inherited units-on-db"},
		{"owner unknown to the registry: next rule", UnitService("systemd", "redis.service"), dbHost, &Resolution{Owner: "gone"}, "it by rule all-services"},
		{"all: true", UnitService("systemd", "redis.service"), plain, nil, "it by rule all-services"},
		{"port with protocol", PortService("tcp", 5432), plain, nil, "dba by rule pg-port"},
		{"tcp6 is tcp", PortService("tcp6", 5432), plain, nil, "dba by rule pg-port"},
		{"port without protocol", PortService("udp", 5432), plain, nil, "security by rule any-5432"},
		{"port range", PortService("tcp", 8080), plain, nil, "web by rule high-ports"},
		{"port assignment", PortService("tcp", 9100), dbHost, nil, "platform by assignment"},
		{"ports inherit too", PortService("tcp", 80), dbHost, nil, "dba by inherited units-on-db"},
		{"host ID pins a unit", UnitService("systemd", "cron.service"), special, nil, "security by rule pinned"},
		{"elsewhere the unit is not pinned", UnitService("systemd", "cron.service"), plain, nil, "it by rule all-services"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owner := r.ResolveHost(tt.host)
			if tt.hostOwner != nil {
				owner = *tt.hostOwner
			}
			got := r.ResolveService(tt.svc, tt.host, owner)
			if s := summary(got); s != tt.want {
				t.Errorf("ResolveService = %s (%s), want %s", s, got.Provenance.Detail, tt.want)
			}
			// The memoized answer is the same.
			if again := r.ServicesOn(tt.host, owner).Resolve(tt.svc); again != got {
				t.Errorf("second resolution %+v differs from %+v", again, got)
			}
		})
	}
}

// TestUnitFieldsSkipPorts checks that name and manager select units only, even as "*".
func TestUnitFieldsSkipPorts(t *testing.T) {
	reg, err := Load("t.yaml", []byte(`
owners: [{id: a}, {id: b}]
rules:
  - {id: units, kind: service, match: {manager: "*"}, owner: a}
  - {id: named, kind: service, match: {name: "*"}, owner: a}
  - {id: ports, kind: service, match: {port: 1-65535}, owner: b}
`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewResolver(reg)
	if err != nil {
		t.Fatal(err)
	}
	h := HostAttrs{ID: "h"}
	if got := summary(r.ResolveService(PortService("tcp", 22), h, Resolution{})); got != "b by rule ports" {
		t.Errorf("port: %s", got)
	}
	if got := summary(r.ResolveService(UnitService("systemd", "x.service"), h, Resolution{})); got != "a by rule units" {
		t.Errorf("unit: %s", got)
	}
}

func TestProvenanceDetail(t *testing.T) {
	r := testResolver(t)
	db := HostAttrs{ID: "h-db", Labels: labels("role", "db")}
	tests := []struct {
		name string
		got  Resolution
		want string
	}{
		{"rule", r.ResolveHost(db), "owned by dba via rule db"},
		{"assignment", r.ResolveSoftware(TitleAttrs{Source: "deb", Name: "special"}), "owned by web via assignment of software deb:special"},
		{"orphan", r.ResolveSoftware(TitleAttrs{Source: "deb", Name: "nagios"}), "owned by old via rule nagios (orphaned: old is retired)"},
		{"inherited", r.ResolveService(UnitService("systemd", "redis.service"), db, r.ResolveHost(db)), "owned by dba, the owner of its host, via rule units-on-db"},
		{"none", r.ResolveHost(HostAttrs{ID: "x"}), "unowned: no assignment or rule matches"},
	}
	for _, tt := range tests {
		if tt.got.Provenance.Detail != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, tt.got.Provenance.Detail, tt.want)
		}
	}
	// An inheriting rule that passes on an unowned host is named when nothing else decides.
	reg, err := Load("t.yaml", []byte(`
rules: [{id: follow, kind: service, match: {labels: {role: db}}, inherit: true}]
`))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := NewResolver(reg)
	if err != nil {
		t.Fatal(err)
	}
	got := r2.ResolveService(UnitService("systemd", "x.service"), db, r2.ResolveHost(db))
	if want := "unowned: rule follow gives the owner of the host, which has none"; got.Provenance.Detail != want || got.Owner != "" {
		t.Errorf("inherit from an unowned host: %+v, want %q", got, want)
	}
}

func TestDepartment(t *testing.T) {
	reg, err := Load("t.yaml", []byte(`
owners:
  - {id: company}
  - {id: it, parent: company}
  - {id: platform, parent: it}
  - {id: alone}
`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewResolver(reg)
	if err != nil {
		t.Fatal(err)
	}
	for owner, want := range map[string]string{"platform": "company", "it": "company", "company": "company", "alone": "alone", "nobody": ""} {
		if got := r.Department(owner); got != want {
			t.Errorf("Department(%s) = %q, want %q", owner, got, want)
		}
	}
	if o, ok := r.Owner("platform"); !ok || o.Parent != "it" || o.State != StateActive {
		t.Errorf("Owner(platform) = %+v, %v", o, ok)
	}
}

// TestOwnersOfUser: an account suggests the active owners whose users match it, in
// registry order, each once; a retired owner suggests nothing.
func TestOwnersOfUser(t *testing.T) {
	reg, err := Load("t.yaml", []byte(`
owners:
  - {id: web, users: [alice, "svc-web-*"]}
  - {id: dba, users: ["*-db", alice]}
  - {id: gone, users: [bob], state: retired}
  - {id: both, users: [carol, "c*"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewResolver(reg)
	if err != nil {
		t.Fatal(err)
	}
	for account, want := range map[string][]string{"alice": {"web", "dba"}, "svc-web-1": {"web"}, "pg-db": {"dba"},
		"bob": nil, "carol": {"both"}, "mallory": nil, "": nil} {
		if got := r.OwnersOfUser(account); !slices.Equal(got, want) {
			t.Errorf("OwnersOfUser(%q) = %q, want %q", account, got, want)
		}
	}
	if _, err := Load("t.yaml", []byte("owners:\n  - {id: x, users: [\"[\"]}\n")); err == nil || !strings.Contains(err.Error(), "owners[0].users[0]") {
		t.Errorf("a bad user pattern: %v", err)
	}
}

func TestNewResolverValidates(t *testing.T) {
	reg := &Registry{Rules: []Rule{{ID: "r", Kind: KindHost, Match: Selector{Hostname: "["}, Owner: "x"}}}
	_, err := NewResolver(reg)
	want := "rules[0].owner: owner \"x\" is not defined\nrules[0].match.hostname: bad pattern \"[\": syntax error in pattern"
	if err == nil || err.Error() != want {
		t.Errorf("NewResolver: %v, want %s", err, want)
	}
}

// TestResolverKeepsNoReference changes a registry after building a resolver from it.
func TestResolverKeepsNoReference(t *testing.T) {
	reg, err := Load("t.yaml", []byte(testRegistry))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewResolver(reg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range reg.Rules {
		reg.Rules[i].Owner, reg.Rules[i].ID = "changed", "changed"
		if reg.Rules[i].Match.Labels != nil {
			reg.Rules[i].Match.Labels["role"] = "x"
		}
	}
	reg.Owners[0].ID = "changed"
	if got := summary(r.ResolveHost(HostAttrs{Labels: labels("role", "db")})); got != "dba by rule db" {
		t.Errorf("after the registry changed: %s", got)
	}
}

// TestServiceClasses checks that hosts differing only in what no service rule looks at
// share a class, so each service title resolves once per class.
func TestServiceClasses(t *testing.T) {
	r := testResolver(t)
	for i := range 1000 {
		h := HostAttrs{ID: fmt.Sprintf("h%d", i), Hostname: fmt.Sprintf("host-%d", i), Labels: labels("role", []string{"db", "web", "batch"}[i%3], "rack", fmt.Sprint(i))}
		hs := r.ServicesOn(h, r.ResolveHost(h))
		hs.Resolve(UnitService("systemd", "redis.service"))
	}
	// role=db hosts are owned by dba; the others have no owner; and no rule looks at
	// role=web or rack.
	if n := len(r.classes); n != 2 {
		t.Errorf("%d classes, want 2", n)
	}
}

// TestServiceMemo resolves thousands of titles on hosts of two classes, through the memo's
// growth and copies, and compares with resolving each without a memo.
func TestServiceMemo(t *testing.T) {
	r := testResolver(t)
	hosts := []HostAttrs{{ID: "a", Labels: labels("role", "db")}, {ID: "b"}, {ID: "c", Labels: labels("role", "db")}}
	var titles []ServiceAttrs
	for p := range 3000 {
		titles = append(titles, PortService([]string{"tcp", "udp6"}[p%2], uint16(p+1)), UnitService("systemd", fmt.Sprintf("u%d.service", p)),
			UnitService("launchd", fmt.Sprintf("u%d", p)))
	}
	for pass := range 2 {
		for _, h := range hosts {
			hs := r.ServicesOn(h, r.ResolveHost(h))
			for i, s := range titles {
				got := hs.Resolve(s)
				if i%97 == pass {
					fresh := testResolver(t)
					if want := fresh.ResolveService(s, h, fresh.ResolveHost(h)); got != want {
						t.Fatalf("%s on %s: %+v, want %+v", s.Key(), h.ID, got, want)
					}
				}
			}
		}
	}
	if r.nTitles != len(titles) {
		t.Errorf("%d titles indexed, want %d", r.nTitles, len(titles))
	}
	if n := r.titles.Load().len(); n < len(titles)/2 {
		t.Errorf("only %d titles of %d promoted to the lock-free table", n, len(titles))
	}
}

func TestResolveConcurrent(t *testing.T) {
	r := testResolver(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				h := HostAttrs{ID: fmt.Sprint(i), Labels: labels("role", []string{"db", "web"}[(i+g)%2], "env", "prod")}
				hs := r.ServicesOn(h, r.ResolveHost(h))
				for _, name := range []string{"redis.service", "nginx.service", "systemd-udevd.service"} {
					got := hs.Resolve(UnitService("systemd", name))
					if got.Owner == "" {
						t.Errorf("%s on %v: no owner", name, h)
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestServiceKeys(t *testing.T) {
	for _, key := range []string{"systemd:nginx.service", "port:tcp/5432", "port:udp/53", "launchd:com.example.agent"} {
		s, err := ParseServiceKey(key)
		if err != nil || s.Key() != key {
			t.Errorf("ParseServiceKey(%q) = %+v, %v", key, s, err)
		}
	}
	for _, key := range []string{"nginx.service", "port:tcp/0", "port:tcp/65536", "port:sctp/1", "port:tcp/+1", ":x", "Systemd:x", "systemd:a b"} {
		if s, err := ParseServiceKey(key); err == nil {
			t.Errorf("ParseServiceKey(%q) = %+v, want an error", key, s)
		}
	}
	if got := PortService("udp6", 53).Key(); got != "port:udp/53" {
		t.Errorf("PortService(udp6, 53) = %s", got)
	}
	for _, key := range []string{"deb", "deb:", ":x", "DEB:x", "deb:a b"} {
		if _, err := ParseSoftwareKey(key); err == nil || !strings.Contains(err.Error(), "source:name") {
			t.Errorf("ParseSoftwareKey(%q): %v", key, err)
		}
	}
}

// TestResolveSoftwareByInstallations selects software by who installed it and where it is,
// and gives it to the owner of the users who installed it.
func TestResolveSoftwareByInstallations(t *testing.T) {
	reg, err := Load("t.yaml", []byte(`
owners:
  - {id: data, users: [alice, "svc-data-*"]}
  - {id: web, users: [bob]}
  - {id: acme}
  - {id: platform}
  - {id: old, users: [olga], state: retired}
rules:
  - {id: deb, kind: software, match: {source: deb}, owner: platform}
  - {id: by-installer, kind: software, match: {all: true}, inherit: true}
  - {id: pip-installer, kind: software, match: {source: pypi}, inherit: true}
  - {id: acme-opt, kind: software, match: {location: "/opt/acme/**"}, owner: acme}
  - {id: carol-npm, kind: software, match: {source: npm, installed_by: carol}, owner: web}
`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewResolver(reg)
	if err != nil {
		t.Fatal(err)
	}
	if !r.UsesInstallations() {
		t.Fatal("UsesInstallations is false with rules on installations")
	}
	for _, tt := range []struct {
		name      string
		t         TitleAttrs
		owner     string
		rule, typ string
		orphaned  bool
	}{
		{"the first installer with an owner decides", TitleAttrs{Source: "pypi", Name: "requests", InstalledBy: []string{"mallory", "svc-data-etl", "bob"}},
			"data", "pip-installer", ByInheritance, false},
		{"no installer is an owner's user: the inheriting rules pass", TitleAttrs{Source: "pypi", Name: "x", InstalledBy: []string{"mallory"}},
			"", "", ByNothing, false},
		{"a more specific rule wins over inheritance", TitleAttrs{Source: "deb", Name: "jq", InstalledBy: []string{"alice"}},
			"platform", "deb", ByRule, false},
		{"a location glob matches one of the locations", TitleAttrs{Source: "file", Name: "/opt/acme/bin/acmectl", Locations: []string{"/srv/x", "/opt/acme/bin/acmectl"}},
			"acme", "acme-opt", ByRule, false},
		{"a tree glob matches nothing beside its directory", TitleAttrs{Source: "file", Name: "/opt/acmex/y", Locations: []string{"/opt/acmex/y"}},
			"", "", ByNothing, false},
		{"installed_by with source beats location alone", TitleAttrs{Source: "npm", Name: "typescript", InstalledBy: []string{"carol"}, Locations: []string{"/opt/acme/lib"}},
			"web", "carol-npm", ByRule, false},
		{"the catch-all inherits", TitleAttrs{Source: "gem", Name: "rails", InstalledBy: []string{"bob"}},
			"web", "by-installer", ByInheritance, false},
		{"a retired owner's users make no heir", TitleAttrs{Source: "gem", Name: "rake", InstalledBy: []string{"olga"}},
			"", "", ByNothing, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := r.ResolveSoftware(tt.t)
			if res.Owner != tt.owner || res.Provenance.RuleID != tt.rule || res.Provenance.Type != tt.typ || res.Orphaned != tt.orphaned {
				t.Errorf("ResolveSoftware = %+v, want owner %q rule %q type %s", res, tt.owner, tt.rule, tt.typ)
			}
			if tt.typ == ByInheritance && !strings.Contains(res.Provenance.Detail, "installed by "+tt.t.InstalledBy[slices.IndexFunc(tt.t.InstalledBy, func(u string) bool { return len(r.OwnersOfUser(u)) > 0 })]) {
				t.Errorf("detail %q does not name the installer", res.Provenance.Detail)
			}
		})
	}
	plain, err := NewResolver(&Registry{Owners: []Owner{{ID: "a"}}, Rules: []Rule{{ID: "r", Kind: KindSoftware, Match: Selector{Source: "deb"}, Owner: "a"}}})
	if err != nil {
		t.Fatal(err)
	}
	if plain.UsesInstallations() {
		t.Error("UsesInstallations is true without rules on installations")
	}
	if _, err := Load("t.yaml", []byte("owners: [{id: a}]\nrules:\n  - {id: r, kind: host, match: {all: true}, inherit: true}\n")); err == nil {
		t.Error("a host rule that inherits is accepted")
	}
}
