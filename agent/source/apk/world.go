package apk

import (
	"bytes"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/internal/model"
)

// apk keeps the packages it was asked for in /etc/apk/world, one dependency a line as apk add
// was given it ("nginx", "curl>=8", "py3-foo@edge", "!bar" for a conflict); every other
// installed package was pulled in as a dependency of those, and apk del removes it once no
// package of the world needs it.
const (
	worldPath     = "/etc/apk/world"
	worldDir      = "/etc/apk"
	maxWorld      = 4 << 20
	evidenceWorld = "apk-world"
)

// parseWorld returns the package names the world file asks for. Conflicts ("!name") and
// virtual names ("so:libc.musl-x86_64.so.1", "cmd:sh") name no one package and are left out;
// skipped counts the entries that are no dependency at all.
func parseWorld(data []byte) (names map[string]bool, skipped int) {
	names = make(map[string]bool)
	for _, dep := range bytes.Fields(data) {
		if dep[0] == '!' {
			continue
		}
		name := dep
		if i := bytes.IndexAny(name, "=<>~@"); i >= 0 {
			name = name[:i]
		}
		switch {
		case len(name) == 0 || !validWorldName(name):
			skipped++
		case bytes.IndexByte(name, ':') >= 0:
		default:
			names[string(name)] = true
		}
	}
	return names, skipped
}

// validWorldName checks the characters apk allows in a dependency's name.
func validWorldName(b []byte) bool {
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == '+', c == ':', c == '/':
		default:
			return false
		}
	}
	return true
}

// requested marks each package as asked for or pulled in, from the world file under root;
// without a readable world file nothing is marked. It returns 1 when the file exists but
// cannot be read, else the entries skipped.
func requested(root hostfs.Root, pkgs []model.Package) (skipped int) {
	data, err := root.ReadFile(worldPath, maxWorld)
	if err != nil {
		if hostfs.NotPresent(err) {
			return 0
		}
		return 1
	}
	names, skipped := parseWorld(data)
	for i := range pkgs {
		p := &pkgs[i]
		p.Requested = model.RequestedDependency
		if names[p.Name] {
			p.Requested = model.RequestedExplicit
		}
		p.Evidence = evidenceWorld
	}
	return skipped
}
