package container

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/protocol"
)

// ref is an image reference split as docker's reference.ParseNormalizedNamed splits it:
// repository normalized ("nginx" → "docker.io/library/nginx"), tag and digest.
type ref struct {
	repo, tag, digest string
}

// String returns the reference in its normalized form.
func (r ref) String() string {
	s := r.repo
	if r.tag != "" {
		s += ":" + r.tag
	}
	if r.digest != "" {
		s += "@" + r.digest
	}
	return s
}

// parseRef normalizes an image reference. It returns false for what is not a reference: an
// empty name or one whose repository, normalized, is longer than a package name may be,
// upper case in the path, a bare image ID ("sha256:…"), "<none>".
func parseRef(s string) (ref, bool) {
	var r ref
	if s == "" || len(s) > protocol.MaxFieldLen || strings.HasPrefix(s, "sha256:") || strings.Contains(s, "<none>") {
		return r, false
	}
	if at := strings.IndexByte(s, '@'); at >= 0 {
		r.digest = s[at+1:]
		s = s[:at]
		if !validDigest(r.digest) {
			return r, false
		}
	}
	if c := strings.LastIndexByte(s, ':'); c >= 0 && !strings.Contains(s[c+1:], "/") {
		r.tag = s[c+1:]
		s = s[:c]
		if !validTag(r.tag) {
			return r, false
		}
	}
	domain, path := "docker.io", s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		first := s[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first {
			domain, path = first, s[i+1:]
		}
	}
	if domain == "index.docker.io" {
		domain = "docker.io"
	}
	if domain == "docker.io" && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	if !validPath(path) || !validDomain(domain) || len(domain)+1+len(path) > protocol.MaxNameLen {
		return r, false
	}
	r.repo = domain + "/" + path
	return r, true
}

// validPath: lower-case path components of [a-z0-9] runs joined by a '.', a '_', a "__" or a
// run of '-', as distribution's reference grammar has them.
func validPath(p string) bool {
	for _, comp := range strings.Split(p, "/") {
		if comp == "" || !alnum(comp[0]) || !alnum(comp[len(comp)-1]) {
			return false
		}
		for i := 0; i < len(comp); {
			j := i
			for j < len(comp) && !alnum(comp[j]) {
				j++
			}
			if sep := comp[i:j]; sep != "" && sep != "." && sep != "_" && sep != "__" && strings.Trim(sep, "-") != "" {
				return false
			}
			i = max(j, i+1)
		}
	}
	return true
}

func validDomain(d string) bool {
	if d == "" {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !alnum(c) && !(c >= 'A' && c <= 'Z') && c != '.' && c != '-' && c != ':' && c != '[' && c != ']' {
			return false
		}
	}
	return true
}

// validTag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func validTag(t string) bool {
	if t == "" || len(t) > 128 || t[0] == '.' || t[0] == '-' {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; !alnum(c) && !(c >= 'A' && c <= 'Z') && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// validDigest: "sha256:" and 64 lower-case hex digits (the only algorithm the runtimes use).
func validDigest(d string) bool {
	h, ok := strings.CutPrefix(d, "sha256:")
	return ok && isHex(h, 64)
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// imageID returns "sha256:<hex>" for an image ID given with or without its algorithm, and
// false when it is not one.
func imageID(id string) (string, bool) {
	id = strings.TrimPrefix(id, "sha256:")
	if !isHex(id, 64) {
		return "", false
	}
	return "sha256:" + id, true
}

// shortID is the 12 hex digits docker prints for an image ID: the version of an image that
// has no tag.
func shortID(digest string) string {
	h := strings.TrimPrefix(digest, "sha256:")
	return h[:min(12, len(h))]
}

// imageConfig is the part of an OCI or docker image configuration the source reads.
type imageConfig struct {
	Created time.Time `json:"created"`
	Config  struct {
		Labels map[string]string `json:"Labels"`
	} `json:"config"`
}

// parseImageConfig reads an image configuration blob.
func parseImageConfig(b []byte) (imageConfig, error) {
	var c imageConfig
	err := json.Unmarshal(b, &c)
	return c, err
}

// The OCI annotation keys (also used as image labels) that describe an image.
const (
	labelVendor      = "org.opencontainers.image.vendor"
	labelDescription = "org.opencontainers.image.description"
	labelSource      = "org.opencontainers.image.source"
	labelTitle       = "org.opencontainers.image.title"
)

// labels cleans a runtime's labels for a report, counting the dropped ones into *skipped.
func labels(in map[string]string, skipped *int) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out, dropped := source.Labels(in)
	*skipped += dropped
	return out
}

// text cleans a field value of at most max bytes.
func text(s string, max int) string { return source.Text([]byte(s), max) }
