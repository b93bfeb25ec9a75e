package npm

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
)

// Manifest is what the source reads of an installed package's package.json.
type Manifest struct {
	Name, Version, Description string
	License                    string   // the license expression, or the legacy licenses' types joined with ", "
	Bins                       []string // the names of the commands it puts into the prefix's bin, sorted
	Repository                 string   // the repository's URL or npm shorthand ("github:acme/tool")
}

const (
	// maxName is npm's limit on a package name, scope included.
	maxName = 214
	// maxBins bounds the commands kept of one package.
	maxBins = 64
	// maxRepository is the longest repository URL kept as a label.
	maxRepository = 256
)

var errManifest = errors.New("not a package manifest")

// ParseManifest parses a package.json as npm installs it: a JSON object whose "name" and
// "version" are strings naming a valid package (a leading byte order mark is read past, as
// npm does). The other fields are read where they have one of the shapes npm accepts and
// left empty otherwise: "description" a string; "license" a string or {"type": ...}, else the
// legacy "licenses" array; "bin" a string (one command named after the package) or an object
// of commands; "repository" a string or {"url": ...}.
func ParseManifest(b []byte) (Manifest, error) {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	var doc struct {
		Name        *string         `json:"name"`
		Version     *string         `json:"version"`
		Description json.RawMessage `json:"description"`
		License     json.RawMessage `json:"license"`
		Licenses    json.RawMessage `json:"licenses"`
		Bin         json.RawMessage `json:"bin"`
		Repository  json.RawMessage `json:"repository"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return Manifest{}, err
	}
	if doc.Name == nil || doc.Version == nil || !ValidName(*doc.Name) || !validVersion(*doc.Version) {
		return Manifest{}, errManifest
	}
	m := Manifest{Name: *doc.Name, Version: *doc.Version}
	m.Description = strings.Join(strings.Fields(jsonString(doc.Description)), " ")
	m.License = license(doc.License, doc.Licenses)
	m.Bins = bins(doc.Bin, m.Name)
	m.Repository = jsonString(doc.Repository)
	if m.Repository == "" {
		var r struct {
			URL string `json:"url"`
		}
		if json.Unmarshal(doc.Repository, &r) == nil {
			m.Repository = r.URL
		}
	}
	if len(m.Repository) > maxRepository || strings.ContainsFunc(m.Repository, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		m.Repository = ""
	}
	return m, nil
}

// jsonString returns raw as a string when it is a JSON string, else "".
func jsonString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// license reads "license", a string or the deprecated {"type": "MIT"}, else the deprecated
// "licenses", [{"type": "MIT"}, ...] (or strings).
func license(lic, legacy json.RawMessage) string {
	type typed struct {
		Type string `json:"type"`
	}
	if s := jsonString(lic); s != "" {
		return strings.TrimSpace(s)
	}
	var t typed
	if len(lic) > 0 && lic[0] == '{' && json.Unmarshal(lic, &t) == nil && t.Type != "" {
		return strings.TrimSpace(t.Type)
	}
	var list []json.RawMessage
	if len(legacy) == 0 || legacy[0] != '[' || json.Unmarshal(legacy, &list) != nil {
		return ""
	}
	var out []string
	for _, l := range list {
		s := jsonString(l)
		if s == "" && len(l) > 0 && l[0] == '{' && json.Unmarshal(l, &t) == nil {
			s = t.Type
		}
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) && len(out) < maxBins {
			out = append(out, s)
		}
	}
	return strings.Join(out, ", ")
}

// bins reads "bin": a string is one command named after the package (its name without the
// scope), an object names its commands. Names that are not plain file names are left out.
func bins(raw json.RawMessage, name string) []string {
	if len(raw) > 0 && raw[0] == '"' {
		if jsonString(raw) == "" {
			return nil
		}
		if _, n, ok := strings.Cut(name, "/"); ok {
			name = n
		}
		return []string{name}
	}
	var m map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		return nil
	}
	var out []string
	for k := range m {
		if validBin(k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	if len(out) > maxBins {
		out = out[:maxBins]
	}
	return out
}

// validBin checks a command name: a file name in the prefix's bin, no path, no control
// character or separator of the bins label.
func validBin(s string) bool {
	return s != "" && s != "." && s != ".." && len(s) <= 255 &&
		!strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f || r == '/' || r == ',' || r == '\\' })
}

// ValidName checks a package name as npm installs one: "name" or "@scope/name", at most 214
// bytes, each part of the bytes a URL keeps as they are (letters, digits and -._~!*'()),
// the name part not starting with "." or "_".
func ValidName(s string) bool {
	if s == "" || len(s) > maxName {
		return false
	}
	if scope, name, ok := strings.Cut(s, "/"); ok {
		return len(scope) > 1 && scope[0] == '@' && urlSafe(scope[1:]) && scope[1] != '.' && validPart(name)
	}
	return validPart(s)
}

func validPart(s string) bool { return s != "" && s[0] != '.' && s[0] != '_' && urlSafe(s) }

func urlSafe(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~!*'()", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// validVersion checks a version loosely: npm's are semantic versions, printable ASCII without
// spaces, at most 256 bytes.
func validVersion(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// ParseNpmrc returns the value of the last "prefix" setting of an npmrc, an ini file of
// "key = value" lines (";" and "#" start comments), unquoted; "" when there is none.
func ParseNpmrc(b []byte) string {
	var prefix string
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == ';' || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte("="))
		if !ok || string(bytes.TrimSpace(k)) != "prefix" {
			continue
		}
		v = bytes.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		prefix = string(v)
	}
	return prefix
}
