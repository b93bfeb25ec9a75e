package cargo

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Install is one crate `cargo install` installed: its package ID ("name version (source)")
// split, and the binaries it put into the root's bin directory.
type Install struct {
	Name, Version, Source string
	Bins                  []string
	Target, Profile       string // crates2.json only
}

// maxBins bounds the binaries kept of one install.
const maxBins = 64

// ParseCrates2 parses .crates2.json, {"installs": {"<package ID>": {"bins": [...], ...}}},
// as cargo writes it (CrateListingV2). An install whose package ID or binaries are malformed
// is skipped and counted; a file that is not such a JSON object at all is an error.
func ParseCrates2(b []byte) (out []Install, skipped int, err error) {
	var doc struct {
		Installs map[string]json.RawMessage `json:"installs"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, 0, err
	}
	for id, raw := range doc.Installs {
		var info struct {
			Bins    []string `json:"bins"`
			Target  string   `json:"target"`
			Profile string   `json:"profile"`
		}
		in, ok := ParsePackageID(id)
		if !ok || json.Unmarshal(raw, &info) != nil || !validBins(info.Bins) {
			skipped++
			continue
		}
		in.Bins, in.Target, in.Profile = info.Bins, info.Target, info.Profile
		out = append(out, in)
	}
	return out, skipped, nil
}

// ParseCratesTOML parses .crates.toml, the older listing cargo still writes beside
// .crates2.json: a [v1] table of `"<package ID>" = ["bin", ...]` entries, the array on one
// line or, as cargo writes it, one binary a line. Only what cargo writes is read; any other
// entry in the table is skipped and counted.
func ParseCratesTOML(b []byte) (out []Install, skipped int) {
	inV1 := false
	next := func() []byte {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		return bytes.TrimSpace(line)
	}
	for len(b) > 0 {
		line := next()
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			inV1 = string(line) == "[v1]"
			continue
		}
		if !inV1 {
			continue
		}
		// An array cargo split over lines opens at the end of the entry's line and ends with
		// the line that is "]".
		if bytes.HasSuffix(line, []byte("[")) {
			entry := slices.Clone(line)
			for n := 0; len(b) > 0 && n <= maxBins; n++ {
				l := next()
				entry = append(append(entry, ' '), l...)
				if bytes.Equal(l, []byte("]")) {
					break
				}
			}
			line = entry
		}
		in, ok := parseTOMLEntry(line)
		if !ok {
			skipped++
			continue
		}
		out = append(out, in)
	}
	return out, skipped
}

// parseTOMLEntry reads `"<package ID>" = ["a", "b"]`.
func parseTOMLEntry(line []byte) (Install, bool) {
	id, rest, ok := tomlString(line)
	if !ok {
		return Install{}, false
	}
	rest, ok = bytes.CutPrefix(bytes.TrimSpace(rest), []byte("="))
	if !ok {
		return Install{}, false
	}
	rest, ok = bytes.CutPrefix(bytes.TrimSpace(rest), []byte("["))
	if !ok {
		return Install{}, false
	}
	bins := []string{}
	for {
		rest = bytes.TrimSpace(rest)
		if r, ok := bytes.CutPrefix(rest, []byte("]")); ok {
			if len(bytes.TrimSpace(r)) > 0 && bytes.TrimSpace(r)[0] != '#' {
				return Install{}, false
			}
			break
		}
		var s string
		if s, rest, ok = tomlString(rest); !ok {
			return Install{}, false
		}
		bins = append(bins, s)
		rest = bytes.TrimSpace(rest)
		if r, ok := bytes.CutPrefix(rest, []byte(",")); ok {
			rest = r
		} else if !bytes.HasPrefix(rest, []byte("]")) {
			return Install{}, false
		}
	}
	in, ok := ParsePackageID(id)
	if !ok || !validBins(bins) {
		return Install{}, false
	}
	in.Bins = bins
	return in, true
}

// tomlEscapes are the one-letter escapes of a TOML basic string.
var tomlEscapes = [256]byte{'b': '\b', 't': '\t', 'n': '\n', 'f': '\f', 'r': '\r', '"': '"', '\\': '\\'}

// tomlString reads the TOML basic string b starts with and returns its text and the rest.
func tomlString(b []byte) (string, []byte, bool) {
	if len(b) == 0 || b[0] != '"' {
		return "", nil, false
	}
	var s strings.Builder
	for i := 1; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			return s.String(), b[i+1:], true
		case '\\':
			if i+1 >= len(b) {
				return "", nil, false
			}
			i++
			switch e := b[i]; e {
			case 'b', 't', 'n', 'f', 'r', '"', '\\':
				s.WriteByte(tomlEscapes[e])
			case 'u', 'U':
				n := 4
				if e == 'U' {
					n = 8
				}
				if i+n >= len(b) {
					return "", nil, false
				}
				v, err := strconv.ParseUint(string(b[i+1:i+1+n]), 16, 32)
				if err != nil || !utf8.ValidRune(rune(v)) {
					return "", nil, false
				}
				s.WriteRune(rune(v))
				i += n
			default:
				return "", nil, false
			}
		default:
			s.WriteByte(c)
		}
	}
	return "", nil, false
}

// ParsePackageID splits cargo's package ID, "ripgrep 14.1.0
// (registry+https://github.com/rust-lang/crates.io-index)": a crate name, a version and, in
// parentheses, the source it came from.
func ParsePackageID(id string) (Install, bool) {
	name, rest, ok := strings.Cut(id, " ")
	if !ok {
		return Install{}, false
	}
	version, src, ok := strings.Cut(rest, " ")
	if !ok || len(src) < 2 || src[0] != '(' || src[len(src)-1] != ')' {
		return Install{}, false
	}
	src = src[1 : len(src)-1]
	if !validCrateName(name) || !validVersion(version) || src == "" || strings.ContainsAny(src, " ()") {
		return Install{}, false
	}
	return Install{Name: name, Version: version, Source: src}, true
}

// validCrateName checks a crate name as cargo allows it: letters, digits, "-" and "_", at
// most 64 bytes.
func validCrateName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validVersion checks a semantic version loosely: a digit first, then what SemVer 2.0 allows
// (letters, digits, ".", "-", "+").
func validVersion(s string) bool {
	if s == "" || len(s) > 128 || s[0] < '0' || s[0] > '9' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+') {
			return false
		}
	}
	return true
}

// validBins checks the binaries of an install: file names in bin/, no path.
func validBins(bins []string) bool {
	if len(bins) > maxBins {
		return false
	}
	for _, b := range bins {
		if b == "" || b == "." || b == ".." || len(b) > 255 || strings.ContainsAny(b, "/\x00") {
			return false
		}
	}
	return true
}
