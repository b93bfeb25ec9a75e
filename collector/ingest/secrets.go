package ingest

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// MinSecretLen is the shortest enroll secret accepted.
const MinSecretLen = 16

// MaxSecretsSize bounds an enroll secrets file.
const MaxSecretsSize = 64 << 10

// ParseEnrollSecrets reads an enroll secrets file: one secret per line, all accepted, so
// that a new secret can be rolled out to the agents before the old one is removed. Blank
// lines and lines starting with # are ignored; surrounding spaces are trimmed. A file
// without a secret, or with one shorter than MinSecretLen, is an error naming the line.
func ParseEnrollSecrets(data []byte) ([]string, error) {
	if len(data) > MaxSecretsSize {
		return nil, fmt.Errorf("%d bytes: more than %d", len(data), MaxSecretsSize)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxSecretsSize+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(line) < MinSecretLen {
			return nil, fmt.Errorf("line %d holds %d characters; use at least %d (e.g. openssl rand -hex 32)", n, len(line), MinSecretLen)
		}
		if strings.IndexFunc(line, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			return nil, fmt.Errorf("line %d: a secret cannot contain spaces or control characters (one secret per line)", n)
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no enroll secret in it (one per line; # starts a comment)")
	}
	return out, nil
}

// SetEnrollSecrets replaces the accepted enroll secrets (empty ones are dropped). Agents
// already enrolled keep their credentials: secrets only matter at enrollment.
func (g *Ingest) SetEnrollSecrets(secrets []string) {
	var b [][]byte
	for _, s := range secrets {
		if s != "" {
			b = append(b, []byte(s))
		}
	}
	g.secrets.Store(&b)
}

// EnrollSecrets returns how many enroll secrets are accepted.
func (g *Ingest) EnrollSecrets() int { return len(*g.secrets.Load()) }

// acceptsSecret compares s with every accepted secret, in constant time for each.
func (g *Ingest) acceptsSecret(s string) bool {
	ok := 0
	for _, want := range *g.secrets.Load() {
		ok |= subtle.ConstantTimeCompare([]byte(s), want)
	}
	return ok == 1
}
