package snap

import (
	"bytes"
	"io"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
)

const (
	// AssertDir is snapd's assertion database (asserts.OpenFSBackstore): each assertion at
	// <type>/<primary key...>/active.
	AssertDir = "/var/lib/snapd/assertions/asserts-v0"
	// maxAssertion bounds the bytes read of one assertion: only its headers are used, and
	// the ones read come first.
	maxAssertion = 64 << 10
	maxHeaders   = 256
	series       = "16" // the only snap series
)

// Publisher is the account that publishes a snap in the store, from its snap-declaration
// assertion (publisher-id) and that account's assertion.
type Publisher struct {
	Username, DisplayName, Validation string
}

// ParseAssertionHeaders reads the headers of an assertion as snapd encodes it: "name: value"
// lines up to the first blank line, which starts the body or the signature. A header whose
// value is a list or a map (indented lines after "name:") is kept with an empty value. At
// most maxHeaders headers are read.
func ParseAssertionHeaders(b []byte) map[string]string {
	out := map[string]string{}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if len(line) == 0 || len(out) >= maxHeaders {
			break
		}
		if line[0] == ' ' {
			continue // a line of a multi-line value
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(k) == 0 {
			break
		}
		if _, dup := out[string(k)]; !dup {
			out[string(k)] = string(bytes.TrimSpace(v))
		}
	}
	return out
}

// publishers reads the publishers of snaps from the assertion database, once per account
// in a pass.
type publishers struct {
	root     hostfs.Root
	accounts map[string]*Publisher
}

// of returns the publisher of the snap with the given store ID: nil when the database has no
// declaration of the snap or no assertion of its publisher, and bad true when one of them is
// there but is not an assertion of what its path says.
func (ps *publishers) of(snapID string) (p *Publisher, bad bool) {
	if !validAssertKey(snapID) {
		return nil, false
	}
	decl, found := ps.read("snap-declaration", series, snapID)
	if !found {
		return nil, false
	}
	id := decl["publisher-id"]
	if decl["type"] != "snap-declaration" || decl["snap-id"] != snapID || !validAssertKey(id) {
		return nil, true
	}
	if p, ok := ps.accounts[id]; ok {
		return p, false
	}
	acc, found := ps.read("account", id)
	if !found {
		ps.accounts[id] = nil
		return nil, false
	}
	if acc["type"] != "account" || acc["account-id"] != id || acc["username"] == "" {
		ps.accounts[id] = nil
		return nil, true
	}
	p = &Publisher{Username: acc["username"], DisplayName: acc["display-name"], Validation: acc["validation"]}
	ps.accounts[id] = p
	return p, false
}

// read returns the headers of the assertion of the given type and primary key.
func (ps *publishers) read(typ string, key ...string) (map[string]string, bool) {
	p := AssertDir + "/" + typ
	for _, k := range key {
		p += "/" + k
	}
	real, err := ps.root.Resolve(p + "/active")
	if err != nil {
		return nil, false
	}
	f, _, err := source.OpenRegular(real)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAssertion))
	if err != nil {
		return nil, false
	}
	return ParseAssertionHeaders(b), true
}

// validAssertKey checks a snap or account ID: letters and digits, as the store makes them,
// so that it names one directory of the database as it is (snapd query-escapes the keys).
func validAssertKey(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
