package pypi

import (
	"bytes"
	"strings"

	"github.com/onus-project/onus/internal/protocol"
)

// Metadata is what a distribution's core metadata (a dist-info's METADATA, an egg-info's
// PKG-INFO) says of it.
type Metadata struct {
	Name, Version, Summary string
}

// maxVersion bounds a version: PEP 440's are short, a legacy one longer than this is junk.
// maxSummary bounds the continuation lines joined to a summary: a report keeps no more.
const (
	maxVersion = 128
	maxSummary = protocol.MaxFieldLen
)

// ParseMetadata reads the header section of core metadata, the RFC 822 headers Python's
// email parser reads ("Name: requests", a continuation line starting with white space),
// up to the first empty line, where the body (the long description) begins. Field names
// are case-insensitive and the first of each field wins; lines that are no header are
// ignored. It returns what it found, valid or not.
func ParseMetadata(b []byte) Metadata {
	var md Metadata
	var last *string // the field a continuation line continues, when it is one kept
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
			// A line ends at "\r\n", "\r" or "\n", as the email parser splits them.
			crlf := b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n'
			line, b = b[:i], b[i+1:]
			if crlf {
				b = b[1:]
			}
		} else {
			line, b = b, nil
		}
		if len(line) == 0 {
			break // the body
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last != nil && *last != "" && len(*last) <= maxSummary {
				*last += " " + string(bytes.TrimSpace(line))
			}
			continue
		}
		last = nil
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *string
		switch strings.ToLower(string(bytes.TrimSpace(name))) {
		case "name":
			dst = &md.Name
		case "version":
			dst = &md.Version
		case "summary":
			dst = &md.Summary
		default:
			continue
		}
		if *dst == "" {
			*dst = string(bytes.TrimSpace(value))
			if dst == &md.Summary {
				last = dst
			}
		}
	}
	return md
}

// NormalizeName returns a distribution name as PEP 503 normalizes it: lower case, each run
// of "-", "_" and "." one "-" ("Acme.Tool_CLI" is "acme-tool-cli").
func NormalizeName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	sep := false
	for _, c := range []byte(s) {
		if c == '-' || c == '_' || c == '.' {
			sep = true
			continue
		}
		if sep {
			b.WriteByte('-')
			sep = false
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	if sep {
		b.WriteByte('-')
	}
	return b.String()
}

// validName checks a distribution name as PEP 508 allows it: ASCII letters and digits, and
// ".", "-", "_" between them, at most 200 bytes.
func validName(s string) bool {
	if s == "" || len(s) > 200 || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) && c != '.' && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// validVersion checks a version loosely, as a legacy one may be anything: printable ASCII
// without white space, at most maxVersion bytes.
func validVersion(s string) bool {
	if s == "" || len(s) > maxVersion {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
