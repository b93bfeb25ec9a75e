package rpm

import (
	"bytes"
	"iter"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/internal/model"
)

// dnf 5 keeps why each installed package is there in its system state,
// /usr/lib/sysimage/libdnf5/packages.toml, one entry a name.arch, as libdnf5 writes it:
//
//	version = "1.0"
//
//	[packages]
//	"acme-hello.x86_64" = { reason = "User" }
//	"acme-libhello.x86_64" = {reason="Dependency"}
//
// (toml11 before version 4 wrote [packages."acme-hello.x86_64"] tables with a reason = line
// instead; both are read). This is the reason dnf 5 itself goes by, so it takes precedence
// over the reason of the history's items.

// applyPackagesTOML sets Requested from packages.toml under root, and returns how many of its
// entries (or the file) could not be read.
func applyPackagesTOML(root hostfs.Root, pkgs []model.Package) (skipped int) {
	data, err := root.ReadFile(dnf5PackagesPath, maxPackagesTOML)
	if err != nil {
		if hostfs.NotPresent(err) {
			return 0
		}
		return 1
	}
	reasons := map[string]string{}
	skipped = parsePackagesTOML(data, func(na, reason string) { reasons[na] = reason })
	if len(reasons) == 0 {
		return skipped
	}
	var key []byte
	for i := range pkgs {
		p := &pkgs[i]
		key = append(append(append(key[:0], p.Name...), '.'), p.Arch...)
		reason, ok := reasons[string(key)]
		if !ok {
			continue
		}
		if req := stateRequested(reason); req != "" {
			p.Requested = req
			if p.Evidence == "" {
				p.Evidence = evidenceDNF5State
			}
		}
	}
	return skipped
}

// stateRequested maps the reason names of libdnf5 (transaction_item_reason_to_string) as
// requestedBy maps their numbers.
func stateRequested(reason string) string {
	switch reason {
	case "User", "Group", "External User":
		return model.RequestedExplicit
	case "Dependency", "Weak Dependency":
		return model.RequestedDependency
	}
	return ""
}

// parsePackagesTOML calls fn with the name.arch and reason of every entry of packages.toml.
// It reads the TOML libdnf5 writes, not every TOML: top-level keys, [packages] holding one
// quoted key with an inline table per package, or [packages."name.arch"] tables. skipped
// counts the entries it could not read; a version other than 1.x is the whole file.
func parsePackagesTOML(data []byte, fn func(na, reason string)) (skipped int) {
	section := ""  // "" top level, "packages", or a package's name.arch
	inPkg := false // section is a package's table
	for line := range splitLines(data) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			section, inPkg = tableHeader(line)
			if section == "" {
				skipped++
				section = "?"
			}
			continue
		}
		key, val, ok := keyValue(line)
		switch {
		case !ok:
			if section == "packages" || inPkg {
				skipped++
			}
		case section == "" && key == "version":
			if s, _, ok := tomlString(val); !ok || !strings.HasPrefix(s, "1.") {
				return skipped + 1
			}
		case section == "packages":
			reason, ok := inlineReason(val)
			if !ok || !strings.Contains(key, ".") {
				skipped++
				continue
			}
			fn(key, reason)
		case inPkg && key == "reason":
			reason, _, ok := tomlString(val)
			if !ok {
				skipped++
				continue
			}
			fn(section, reason)
		}
	}
	return skipped
}

// tableHeader parses "[packages]" and `[packages."name.arch"]`: the section, whether it is a
// package's; "" when the header cannot be read. Other tables are "other".
func tableHeader(line []byte) (string, bool) {
	s := string(line)
	if len(s) < 2 || s[len(s)-1] != ']' || strings.HasPrefix(s, "[[") {
		return "", false
	}
	s = strings.TrimSpace(s[1 : len(s)-1])
	if s == "packages" {
		return s, false
	}
	rest, ok := strings.CutPrefix(s, "packages")
	if !ok {
		return "other", false
	}
	rest = strings.TrimSpace(rest)
	if rest, ok = strings.CutPrefix(rest, "."); !ok {
		return "other", false
	}
	na, tail, ok := tomlKey(strings.TrimSpace(rest))
	if !ok || strings.TrimSpace(tail) != "" {
		return "", false
	}
	return na, true
}

// keyValue splits "key = value", the key unquoted.
func keyValue(line []byte) (key, val string, ok bool) {
	key, rest, ok := tomlKey(string(line))
	if !ok {
		return "", "", false
	}
	rest = strings.TrimSpace(rest)
	if !strings.HasPrefix(rest, "=") {
		return "", "", false
	}
	return key, strings.TrimSpace(rest[1:]), true
}

// tomlKey reads a bare or quoted key at the start of s.
func tomlKey(s string) (key, rest string, ok bool) {
	if s == "" {
		return "", "", false
	}
	if s[0] == '"' || s[0] == '\'' {
		return tomlString(s)
	}
	i := 0
	for i < len(s) && (s[i] == '_' || s[i] == '-' || '0' <= s[i] && s[i] <= '9' || 'a' <= s[i]|0x20 && s[i]|0x20 <= 'z') {
		i++
	}
	return s[:i], s[i:], i > 0
}

// inlineReason reads the reason of an inline table, { reason = "User" }; other keys are
// passed over.
func inlineReason(val string) (reason string, ok bool) {
	s, found := strings.CutPrefix(val, "{")
	if !found {
		return "", false
	}
	for {
		s = strings.TrimSpace(s)
		if strings.HasPrefix(s, "}") {
			return reason, reason != ""
		}
		key, rest, ok := tomlKey(s)
		if !ok {
			return "", false
		}
		rest = strings.TrimSpace(rest)
		if !strings.HasPrefix(rest, "=") {
			return "", false
		}
		v, rest, ok := tomlString(strings.TrimSpace(rest[1:]))
		if !ok {
			return "", false
		}
		if key == "reason" {
			reason = v
		}
		s = strings.TrimSpace(rest)
		s = strings.TrimPrefix(s, ",")
	}
}

// tomlString reads a basic ("...", with escapes) or literal ('...') string at the start of
// s, and returns it with what follows.
func tomlString(s string) (str, rest string, ok bool) {
	if s == "" {
		return "", "", false
	}
	if s[0] == '\'' {
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return "", "", false
		}
		return s[1 : end+1], s[end+2:], true
	}
	if s[0] != '"' {
		return "", "", false
	}
	var b []byte
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return string(b), s[i+1:], true
		case c == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'b':
				b = append(b, '\b')
			case 't':
				b = append(b, '\t')
			case 'n':
				b = append(b, '\n')
			case 'f':
				b = append(b, '\f')
			case 'r':
				b = append(b, '\r')
			case '"', '\\':
				b = append(b, s[i])
			case 'u', 'U':
				n := 4
				if s[i] == 'U' {
					n = 8
				}
				if i+n >= len(s) {
					return "", "", false
				}
				r, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32)
				if err != nil || !utf8.ValidRune(rune(r)) {
					return "", "", false
				}
				b = utf8.AppendRune(b, rune(r))
				i += n
			default:
				return "", "", false
			}
		case c == '\\':
			return "", "", false
		default:
			b = append(b, c)
		}
	}
	return "", "", false
}

// splitLines yields the lines of b, without their newlines.
func splitLines(b []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			line := b
			if i := bytes.IndexByte(b, '\n'); i >= 0 {
				line, b = b[:i], b[i+1:]
			} else {
				b = nil
			}
			if !yield(line) {
				return
			}
		}
	}
}

// cut is bytes.Cut on one byte.
func cut(b []byte, sep byte) (before, after []byte, found bool) {
	if i := bytes.IndexByte(b, sep); i >= 0 {
		return b[:i], b[i+1:], true
	}
	return b, nil, false
}
