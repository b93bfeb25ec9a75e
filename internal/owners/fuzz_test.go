package owners

import (
	"encoding/json"
	"errors"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// FuzzLoad feeds owners files to Load. Nothing may panic; a refusal is a list of *Error;
// what loads builds a resolver, and marshalled to YAML or to JSON loads back equal.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"../../deploy/owners.example.yaml", "testdata/broken.yaml"} {
		data, err := os.ReadFile(filepath.FromSlash(name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(testRegistry))
	for _, s := range []string{"", "owners: [{id: a}]", "owners: [{id: a, parent: a}]", "rules: [{id: r, kind: host, match: {all: true}}]",
		"owners: &o [{id: a, escalation: [*o]}]", "a: &a [*a]", "---\n---", "rules: [{match: {labels: {x: '[a-'}}}]",
		"owners: [{id: a}]\nassignments: [{kind: service, asset: 'port:tcp/1', owner: a}]"} {
		f.Add([]byte(s))
	}
	host := HostAttrs{ID: "h", Hostname: "db-1", OS: "debian", Labels: map[string]string{"role": "db", "env": "prod"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		reg, err := Load("fuzz.yaml", data)
		if err != nil {
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var le *Error
				if !errors.As(e, &le) || le.File != "fuzz.yaml" {
					t.Fatalf("error %v is not an *Error naming the file", e)
				}
			}
			return
		}
		r, err := NewResolver(reg)
		if err != nil {
			t.Fatalf("NewResolver of a loaded registry: %v", err)
		}
		ho := r.ResolveHost(host)
		r.ResolveSoftware(TitleAttrs{Source: "deb", Name: "libc6"})
		r.ResolveService(UnitService("systemd", "nginx.service"), host, ho)
		r.ResolveService(PortService("tcp", 5432), host, ho)

		y, err := yaml.Marshal(reg)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Load("again.yaml", y)
		if err != nil {
			t.Fatalf("marshalled registry does not load: %v\n%s", err, y)
		}
		if !reflect.DeepEqual(again, reg) {
			t.Fatalf("YAML round trip differs:\n%#v\n%#v", reg, again)
		}
		j, err := json.Marshal(reg)
		if err != nil {
			t.Fatal(err)
		}
		fromJSON, err := DecodeJSON(j)
		if err != nil {
			t.Fatalf("JSON does not decode: %v\n%s", err, j)
		}
		if !reflect.DeepEqual(fromJSON, reg) {
			t.Fatalf("JSON round trip differs:\n%#v\n%#v", reg, fromJSON)
		}
	})
}

// FuzzMatch checks compiled globs against path.Match, and that selectors built from any
// pattern never panic when they match.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"lib*", "libc6"}, {"lib*", "lib/x"}, {"*", ""}, {"*.service", "nginx.service"}, {"*.service", "a/b.service"},
		{"db-?", "db-1"}, {"[a-c]x", "bx"}, {`\*`, "*"}, {`a\`, "a"}, {"[^a]", "b"}, {"x[", "x"}, {"", ""},
		{"tcp/5432", "5432"}, {"8000-8999", "8080"}, {"ä*", "äb"}, {"*\xff", "a\xff"},
		{"/opt/acme/**", "/opt/acme/bin/x"}, {"/opt/acme/**", "/opt/acmex"}, {"/**", "/"}, {"a/**", "a"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pat, s string) {
		want, perr := path.Match(pat, s)
		g, err := compileGlob(pat)
		switch {
		case pat == "":
			if err == nil {
				t.Fatal("empty pattern compiled")
			}
		case perr != nil || err != nil:
			// path.Match may stop before a syntax error that a full check finds.
			if err == nil {
				t.Fatalf("compileGlob(%q) accepted what path.Match refuses: %v", pat, perr)
			}
		default:
			if g.form == globTree {
				// "dir/**" is dir and everything under it, which path.Match does not say.
				want = s == g.lit || strings.HasPrefix(s, g.lit+"/")
			}
			if got := g.match(s); got != want {
				t.Fatalf("glob %q (form %d) on %q: %v, path.Match says %v", pat, g.form, s, got, want)
			}
			if g.literal > len(pat) || g.literal < 0 {
				t.Fatalf("literal %d of %q", g.literal, pat)
			}
		}
		if p, err := parsePort(pat); err == nil {
			if p.lo == 0 || p.lo > p.hi || (p.proto != "" && p.proto != "tcp" && p.proto != "udp") {
				t.Fatalf("parsePort(%q) = %+v", pat, p)
			}
			svc := PortService("tcp", p.lo)
			if !p.match(&svc) && p.proto != "udp" {
				t.Fatalf("port %q does not match its own first port", pat)
			}
		}
		// A selector of every kind made of the pattern resolves without panicking.
		reg := &Registry{Owners: []Owner{{ID: "o"}}}
		for _, k := range Kinds {
			sel := Selector{Name: pat, Labels: map[string]string{"l": pat}}
			switch k {
			case KindHost:
				sel = Selector{Hostname: pat, OS: pat, Labels: map[string]string{"l": pat}}
			case KindSoftware:
				sel = Selector{Name: pat, Vendor: pat}
			}
			reg.Rules = append(reg.Rules, Rule{ID: "r" + string(k), Kind: k, Match: sel, Owner: "o"})
		}
		r, err := NewResolver(reg)
		if err != nil {
			if _, cerr := compileGlob(pat); cerr == nil && !strings.ContainsFunc(pat, unicode.IsControl) {
				t.Fatalf("NewResolver refuses a valid pattern: %v", err)
			}
			return
		}
		h := HostAttrs{ID: s, Hostname: s, OS: s, Labels: map[string]string{"l": s}}
		ho := r.ResolveHost(h)
		if (ho.Owner == "o") != (want && perr == nil) {
			t.Fatalf("host %q with pattern %q: %+v, path.Match says %v", s, pat, ho, want)
		}
		r.ResolveSoftware(TitleAttrs{Source: "deb", Name: s, Vendor: s})
		r.ResolveService(UnitService("systemd", s), h, ho)
	})
}
