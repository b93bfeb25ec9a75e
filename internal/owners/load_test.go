package owners

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/onus-project/onus/internal/testutil/golden"
)

// errorLines returns the messages of a Load error, one a line.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown top-level field", `
owner:
  - id: x
`, []string{`f.yaml:1:1: owner: unknown field "owner"; want one of owners, rules, assignments`}},
		{"unknown owner field", `
owners:
  - id: a
    contact: {emial: a@example.com}
`, []string{`f.yaml:3:15: owners[0].contact.emial: unknown field "emial"; want one of email, chat`}},
		{"repeated key", `
owners:
  - id: a
    name: A
    name: B
`, []string{`f.yaml:4:5: owners[0].name: "name" is repeated (first at line 3)`}},
		{"duplicate owner id", `
owners:
  - id: a
  - id: a
`, []string{`f.yaml:3:9: owners[1].id: owner "a" is already defined at line 2`}},
		{"invalid id", `
owners:
  - id: "dba team"
`, []string{`f.yaml:2:9: owners[0].id: "dba team" is not a valid ID: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 characters`}},
		{"missing id", `
owners:
  - name: A
`, []string{`f.yaml:2:5: owners[0].id: missing`}},
		{"unknown parent", `
owners:
  - id: web
    parent: engineering
`, []string{`f.yaml:3:13: owners[0].parent: parent "engineering" is not a defined owner`}},
		{"own parent", `
owners:
  - id: web
    parent: web
`, []string{`f.yaml:3:13: owners[0].parent: owner "web" is its own parent`}},
		{"parent cycle", `
owners:
  - {id: d, parent: a}
  - {id: a, parent: b}
  - {id: b, parent: c}
  - {id: c, parent: a}
`, []string{`f.yaml:3:21: owners[1].parent: parent cycle: a → b → c → a`}},
		{"two parent cycles", `
owners:
  - {id: a, parent: b}
  - {id: b, parent: a}
  - {id: c, parent: d}
  - {id: d, parent: c}
`, []string{
			`f.yaml:2:21: owners[0].parent: parent cycle: a → b → a`,
			`f.yaml:4:21: owners[2].parent: parent cycle: c → d → c`,
		}},
		{"bad state", `
owners:
  - {id: a, state: gone}
`, []string{`f.yaml:2:20: owners[0].state: state "gone": want active or retired`}},
		{"bad email", `
owners:
  - id: a
    contact:
      email: "DBA <dba@example.com>"
`, []string{`f.yaml:4:14: owners[0].contact.email: "DBA <dba@example.com>" is not an email address`}},
		{"empty escalation contact", `
owners:
  - id: a
    escalation: [oncall@example.com, ""]
`, []string{`f.yaml:3:38: owners[0].escalation[1]: is empty`}},
		{"escalation not a list", `
owners:
  - id: a
    escalation: oncall@example.com
`, []string{`f.yaml:3:17: owners[0].escalation: want a list, not a string`}},
		{"owner not a mapping", `
owners:
  - a
`, []string{
			`f.yaml:2:5: owners[0]: want a mapping with id, name, contact, escalation, users, parent, state, not a string`,
			`f.yaml:2:5: owners[0].id: missing`,
		}},
		{"bad kind", `
owners: [{id: a}]
rules:
  - {id: r, kind: hosts, match: {hostname: x}, owner: a}
`, []string{`f.yaml:3:19: rules[0].kind: kind "hosts": want host, software or service`}},
		{"missing kind", `
owners: [{id: a}]
rules:
  - {id: r, match: {hostname: x}, owner: a}
`, []string{`f.yaml:3:5: rules[0].kind: missing`}},
		{"field not valid for kind", `
owners: [{id: a}]
rules:
  - id: r
    kind: software
    match: {name: nginx, labels: {role: web}}
    owner: a
  - id: s
    kind: host
    match: {port: "22"}
    owner: a
`, []string{
			`f.yaml:5:34: rules[0].match.labels: software rules match source, name, maintainer, vendor, section, origin, installed_by, location, not labels`,
			`f.yaml:9:19: rules[1].match.port: host rules match host_id, hostname, fqdn, os, os_family, labels, not port`,
		}},
		{"bad glob", `
owners: [{id: a}]
rules:
  - {id: r, kind: software, match: {name: "lib[a-"}, owner: a}
`, []string{`f.yaml:3:43: rules[0].match.name: bad pattern "lib[a-": syntax error in pattern`}},
		{"empty selector", `
owners: [{id: a}]
rules:
  - {id: r, kind: host, match: {}, owner: a}
`, []string{`f.yaml:3:32: rules[0].match: matches nothing: name at least one field, or say all: true for a rule that matches every host`}},
		{"all false", `
owners: [{id: a}]
rules:
  - {id: r, kind: host, match: {all: false}, owner: a}
`, []string{`f.yaml:3:32: rules[0].match: matches nothing: name at least one field, or say all: true for a rule that matches every host`}},
		{"missing match", `
owners: [{id: a}]
rules:
  - {id: r, kind: host, owner: a}
`, []string{`f.yaml:3:5: rules[0].match: matches nothing: name at least one field, or say all: true for a rule that matches every host`}},
		{"all with fields", `
owners: [{id: a}]
rules:
  - {id: r, kind: host, match: {all: true, os: debian}, owner: a}
`, []string{`f.yaml:3:38: rules[0].match.all: all: true matches every host; it takes no other field`}},
		{"empty pattern", `
owners: [{id: a}]
rules:
  - {id: r, kind: host, match: {hostname: ""}, owner: a}
`, []string{`f.yaml:3:43: rules[0].match.hostname: is empty`}},
		{"empty labels", `
owners: [{id: a}]
rules:
  - {id: r, kind: host, match: {labels: {}}, owner: a}
`, []string{`f.yaml:3:41: rules[0].match.labels: no labels: leave labels out, or name one`}},
		{"label value not a string", `
owners: [{id: a}]
rules:
  - {id: r, kind: host, match: {labels: {role: [db]}}, owner: a}
`, []string{`f.yaml:3:48: rules[0].match.labels.role: want a string, not a list`}},
		{"unknown rule owner", `
owners: [{id: dba}]
rules:
  - {id: r, kind: host, match: {os: debian}, owner: dba2}
`, []string{`f.yaml:3:53: rules[0].owner: owner "dba2" is not defined (did you mean "dba"?)`}},
		{"rule without owner", `
owners: [{id: dba}]
rules:
  - {id: r, kind: host, match: {os: debian}}
`, []string{`f.yaml:3:5: rules[0].owner: missing`}},
		{"duplicate rule id", `
owners: [{id: a}]
rules:
  - {id: r, kind: host, match: {os: debian}, owner: a}
  - {id: r, kind: host, match: {os: rocky}, owner: a}
`, []string{`f.yaml:4:10: rules[1].id: rule "r" is already defined at line 3`}},
		{"inherit on a host rule", `
owners: [{id: a}]
rules:
  - {id: r, kind: host, match: {os: debian}, inherit: true}
`, []string{`f.yaml:3:55: rules[0].inherit: a host rule cannot inherit: service rules inherit the owner of the host, software rules the owner of who installed it`}},
		{"inherit with an owner", `
owners: [{id: a}]
rules:
  - {id: r, kind: service, match: {os: debian}, owner: a, inherit: true}
`, []string{`f.yaml:3:56: rules[0].owner: a rule with inherit: true takes its owner from the host or from who installed the software; it names no owner`}},
		{"inherit not a boolean", `
rules:
  - {id: r, kind: service, match: {os: debian}, inherit: yes}
`, []string{`f.yaml:2:58: rules[0].inherit: want true or false, not a string`}},
		{"bad ports", `
owners: [{id: a}]
rules:
  - {id: r1, kind: service, match: {port: 0}, owner: a}
  - {id: r2, kind: service, match: {port: sctp/80}, owner: a}
  - {id: r3, kind: service, match: {port: 90-80}, owner: a}
  - {id: r4, kind: service, match: {port: tcp/080}, owner: a}
`, []string{
			`f.yaml:3:43: rules[0].match.port: port "0": "0" is not a port number from 1 to 65535; want N, tcp/N, udp/N or a range N-M`,
			`f.yaml:4:43: rules[1].match.port: port "sctp/80": protocol must be tcp or udp; want N, tcp/N, udp/N or a range N-M`,
			`f.yaml:5:43: rules[2].match.port: port "90-80": range ends before it starts; want N, tcp/N, udp/N or a range N-M`,
			`f.yaml:6:43: rules[3].match.port: port "tcp/080": "080" is not a port number from 1 to 65535; want N, tcp/N, udp/N or a range N-M`,
		}},
		{"port and unit name", `
owners: [{id: a}]
rules:
  - {id: r, kind: service, match: {name: sshd.service, port: tcp/22}, owner: a}
`, []string{`f.yaml:3:62: rules[0].match.port: a service is a unit (name, manager) or a listening port, never both: use two rules`}},
		{"bad assignments", `
owners: [{id: a}]
assignments:
  - {kind: software, asset: nginx, owner: a}
  - {kind: service, asset: "port:tcp/0", owner: a}
  - {kind: service, asset: "nginx.service", owner: a}
  - {kind: host, asset: "db 1", owner: a}
  - {kind: vm, asset: x, owner: a}
  - {kind: host, asset: h1, owner: b}
  - {asset: h2}
`, []string{
			`f.yaml:3:29: assignments[0].asset: software "nginx": want source:name, e.g. deb:nginx`,
			`f.yaml:4:28: assignments[1].asset: service "port:tcp/0": port "0" is not a number from 1 to 65535`,
			`f.yaml:5:28: assignments[2].asset: service "nginx.service": want manager:unit (systemd:nginx.service) or port:protocol/number (port:tcp/5432)`,
			`f.yaml:6:25: assignments[3].asset: host ID "db 1" has white space`,
			`f.yaml:7:12: assignments[4].kind: kind "vm": want host, software or service`,
			`f.yaml:8:36: assignments[5].owner: owner "b" is not defined`,
			`f.yaml:9:5: assignments[6].kind: missing`,
			`f.yaml:9:5: assignments[6].owner: missing`,
		}},
		{"duplicate assignment", `
owners: [{id: a}, {id: b}]
assignments:
  - {kind: service, asset: "port:tcp/22", owner: a}
  - {kind: service, asset: "port:tcp/22", owner: b}
  - {kind: host, asset: "port:tcp/22", owner: b}
`, []string{`f.yaml:4:28: assignments[1].asset: service port:tcp/22 is already assigned at line 3`}},
		{"control character", `
owners:
  - {id: a, name: "A\x07"}
`, []string{`f.yaml:2:19: owners[0].name: control character U+0007 in "A\a"`}},
		{"raw control character", "owners:\n  - {id: a, name: A\x01}\n",
			[]string{`f.yaml:2:20: control character U+0001`}},
		{"not UTF-8", "owners:\n  - {id: \xff}\n",
			[]string{`f.yaml:2:10: the file is not UTF-8`}},
		{"second document", `
owners: [{id: a}]
---
rules: []
`, []string{`f.yaml:3:1: a second YAML document: an owners file holds one`}},
		{"syntax error in a block", `
owners:
  - id: a
    name: A
   parent: b
`, []string{`f.yaml:2: YAML syntax: did not find expected '-' indicator, on this line or further down in the block it starts`}},
		{"syntax error of the scanner", "owners:\n\t- id: a\n",
			[]string{`f.yaml:2: YAML syntax: found character that cannot start any token`}},
		{"errors sorted by line", `
rules:
  - {id: r, kind: host, match: {os: debian}, owner: nobody}
owners:
  - {id: a}
  - {id: a}
assignments:
  - {kind: host, asset: h, owner: nobody}
`, []string{
			`f.yaml:2:53: rules[0].owner: owner "nobody" is not defined`,
			`f.yaml:5:10: owners[1].id: owner "a" is already defined at line 4`,
			`f.yaml:7:35: assignments[0].owner: owner "nobody" is not defined`,
		}},
		{"aliases expand too much", aliasBomb(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("f.yaml", []byte(strings.TrimPrefix(tt.yaml, "\n")))
			got := errorLines(err)
			if tt.want == nil {
				// Only the first lines matter: the walk stops at the budget.
				if err == nil || !strings.Contains(err.Error(), "aliases expand the file to more than") {
					t.Fatalf("Load: %v, want the node budget exceeded", err)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Load errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			var e *Error
			if !errors.As(err, &e) || e.File != "f.yaml" {
				t.Errorf("Load error %v is not an *Error naming the file", err)
			}
		})
	}
}

// aliasBomb returns a small file that the walk would expand into millions of nodes: a
// thousand owners share an escalation list of two thousand aliases.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("x: &s oncall@example.com\ny: &l [")
	for range 2000 {
		b.WriteString("*s, ")
	}
	b.WriteString("*s]\nz: &o {id: a, escalation: *l}\nowners: [")
	for range 1000 {
		b.WriteString("*o, ")
	}
	b.WriteString("*o]\n")
	return b.String()
}

func TestLoadTooLarge(t *testing.T) {
	_, err := Load("big.yaml", make([]byte, MaxSize+1))
	if err == nil || !strings.HasPrefix(err.Error(), "big.yaml:1:1: file is larger than") {
		t.Fatalf("Load: %v", err)
	}
}

func TestLoadEmpty(t *testing.T) {
	for _, in := range []string{"", "# nothing yet\n", "~\n", "owners:\nrules: []\nassignments: ~\n"} {
		reg, err := Load("empty.yaml", []byte(in))
		if err != nil {
			t.Fatalf("Load(%q): %v", in, err)
		}
		if !reflect.DeepEqual(reg, &Registry{}) {
			t.Errorf("Load(%q) = %+v, want an empty registry", in, reg)
		}
	}
}

// TestLoadValues checks how scalars decode: as written, a number included.
func TestLoadValues(t *testing.T) {
	reg, err := Load("v.yaml", []byte(`
owners:
  - {id: 007, name: 1.50}
rules:
  - id: r
    kind: service
    match: {port: 5432}
    owner: "007"
  - id: s
    kind: host
    match:
      labels: {"app.kubernetes.io/name": web, tier: "*"}
    owner: "007"
`))
	if err != nil {
		t.Fatal(err)
	}
	if o := reg.Owners[0]; o.ID != "007" || o.Name != "1.50" || o.State != StateActive {
		t.Errorf("owner = %+v", o)
	}
	if p := reg.Rules[0].Match.Port; p != "5432" {
		t.Errorf("port = %q", p)
	}
	if l := reg.Rules[1].Match.Labels; len(l) != 2 || l["app.kubernetes.io/name"] != "web" {
		t.Errorf("labels = %v", l)
	}
}

// TestLoadGolden loads a file with many mistakes; the golden file lists every error.
func TestLoadGolden(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "broken.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Load("testdata/broken.yaml", data)
	if err == nil {
		t.Fatal("Load accepted testdata/broken.yaml")
	}
	golden.Assert(t, filepath.Join("testdata", "broken.errors"), []byte(err.Error()+"\n"))
}

func loadExample(t testing.TB) *Registry {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "owners.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := Load("owners.example.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestExample(t *testing.T) {
	reg := loadExample(t)
	r, err := NewResolver(reg)
	if err != nil {
		t.Fatal(err)
	}
	db := HostAttrs{ID: "0f1e2d3c4b5a69788796a5b4c3d2e1f0", Hostname: "db-1", OS: "debian", Labels: map[string]string{"role": "db", "env": "prod"}}
	web := HostAttrs{ID: "1f1e2d3c4b5a69788796a5b4c3d2e1f0", Hostname: "web-1", OS: "debian", Labels: map[string]string{"role": "web", "env": "prod"}}
	bastion := HostAttrs{ID: "5c0ffee0b5a8d4e3a8b7c6d5e4f3a2b1", Hostname: "bastion", Labels: map[string]string{"env": "prod"}}
	dbOwner := r.ResolveHost(db)
	tests := []struct {
		name string
		got  Resolution
		want string // owner, "!" suffix when orphaned
		why  string
	}{
		{"db host", dbOwner, "dba", "owned by dba via rule db-hosts"},
		{"web host", r.ResolveHost(web), "web", "owned by web via rule web-hosts"},
		{"bastion", r.ResolveHost(bastion), "security", "owned by security via assignment of host 5c0ffee0b5a8d4e3a8b7c6d5e4f3a2b1"},
		{"kafka host", r.ResolveHost(HostAttrs{Hostname: "kafka-3", Labels: map[string]string{"role": "kafka", "env": "prod"}}), "data-eng", "owned by data-eng via rule kafka-hosts"},
		{"other prod host", r.ResolveHost(HostAttrs{Hostname: "mail-1", Labels: map[string]string{"env": "prod"}}), "platform", "owned by platform via rule prod-hosts"},
		{"build agent", r.ResolveHost(HostAttrs{Hostname: "ci-7", OSFamily: "debian", Labels: map[string]string{"env": "prod"}}), "platform", "owned by platform via rule build-agents"},
		{"a laptop", r.ResolveHost(HostAttrs{Hostname: "laptop"}), "", "unowned: no assignment or rule matches"},
		{"libc", r.ResolveSoftware(TitleAttrs{Source: "deb", Name: "libc6"}), "platform", "owned by platform via rule base-os-libs"},
		{"psycopg2", r.ResolveSoftware(TitleAttrs{Source: "deb", Name: "python3-psycopg2"}), "dba", "owned by dba via rule postgres-python-driver"},
		{"python3-yaml", r.ResolveSoftware(TitleAttrs{Source: "deb", Name: "python3-yaml"}), "platform", "owned by platform via rule base-os-python"},
		{"rocky bash", r.ResolveSoftware(TitleAttrs{Source: "rpm", Name: "bash", Vendor: "Rocky Enterprise Software Foundation"}), "platform", "owned by platform via rule rocky-packages"},
		{"node exporter", r.ResolveSoftware(TitleAttrs{Source: "deb", Name: "prometheus-node-exporter"}), "platform", "owned by platform via rule monitoring-agents"},
		{"nagios", r.ResolveSoftware(TitleAttrs{Source: "deb", Name: "nagios4"}), "legacy-monitoring!", "owned by legacy-monitoring via rule old-nagios (orphaned: legacy-monitoring is retired)"},
		{"nagios plugins", r.ResolveSoftware(TitleAttrs{Source: "deb", Name: "monitoring-plugins-basic"}), "legacy-monitoring!", "owned by legacy-monitoring via assignment of software deb:monitoring-plugins-basic (orphaned: legacy-monitoring is retired)"},
		{"shadow IT", r.ResolveSoftware(TitleAttrs{Source: "deb", Name: "anydesk"}), "", "unowned: no assignment or rule matches"},
		{"postgres unit", r.ResolveService(UnitService("systemd", "postgresql@16-main.service"), db, dbOwner), "dba", "owned by dba via rule postgres-units"},
		{"redis on a db host", r.ResolveService(UnitService("systemd", "redis-server.service"), db, dbOwner), "dba", "owned by dba, the owner of its host, via rule db-host-services"},
		{"redis on a web host", r.ResolveService(UnitService("systemd", "redis-server.service"), web, r.ResolveHost(web)), "", "unowned: no assignment or rule matches"},
		{"https on a web host", r.ResolveService(PortService("tcp6", 443), web, r.ResolveHost(web)), "web", "owned by web via rule web-https"},
		{"sshd", r.ResolveService(UnitService("systemd", "ssh.service"), db, dbOwner), "security", "owned by security via rule ssh-units"},
		{"8080", r.ResolveService(PortService("tcp", 8080), web, r.ResolveHost(web)), "web", "owned by web via assignment of service port:tcp/8080"},
	}
	for _, tt := range tests {
		got := tt.got.Owner
		if tt.got.Orphaned {
			got += "!"
		}
		if got != tt.want || tt.got.Provenance.Detail != tt.why {
			t.Errorf("%s: %s, %q; want %s, %q", tt.name, got, tt.got.Provenance.Detail, tt.want, tt.why)
		}
	}
	for owner, dept := range map[string]string{"dba": "data", "platform": "it", "web": "engineering", "it": "it"} {
		if got := r.Department(owner); got != dept {
			t.Errorf("Department(%s) = %q, want %q", owner, got, dept)
		}
	}
}

// TestRoundTrip checks that a registry survives YAML and JSON encodings unchanged, as the
// API and owners get need.
func TestRoundTrip(t *testing.T) {
	reg := loadExample(t)
	y, err := yaml.Marshal(reg)
	if err != nil {
		t.Fatal(err)
	}
	fromYAML, err := Load("marshalled.yaml", y)
	if err != nil {
		t.Fatalf("Load of marshalled YAML: %v\n%s", err, y)
	}
	if !reflect.DeepEqual(fromYAML, reg) {
		t.Errorf("YAML round trip differs:\n%s", y)
	}
	j, err := json.Marshal(reg)
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := DecodeJSON(j)
	if err != nil {
		t.Fatalf("DecodeJSON: %v\n%s", err, j)
	}
	if !reflect.DeepEqual(fromJSON, reg) {
		t.Errorf("JSON round trip differs:\n%s", j)
	}
}

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"unknown field", `{"owners":[{"id":"a","colour":"red"}]}`, `owners: json: unknown field "colour"`},
		{"trailing data", `{} {}`, `owners: data after the registry`},
		{"invalid", `{"owners":[{"id":"a"}],"rules":[{"id":"r","kind":"host","match":{"hostname":"["},"owner":"b"}]}`,
			"rules[0].owner: owner \"b\" is not defined\nrules[0].match.hostname: bad pattern \"[\": syntax error in pattern"},
		{"empty selector", `{"owners":[{"id":"a"}],"rules":[{"id":"r","kind":"host","match":{},"owner":"a"}]}`,
			"rules[0].match: matches nothing: name at least one field, or say all: true for a rule that matches every host"},
		{"missing fields", `{"assignments":[{}]}`,
			"assignments[0].kind: missing\nassignments[0].asset: missing\nassignments[0].owner: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeJSON([]byte(tt.json))
			if err == nil || err.Error() != tt.want {
				t.Errorf("DecodeJSON: %v\nwant: %s", err, tt.want)
			}
		})
	}
}
