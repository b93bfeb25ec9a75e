package files

import (
	"bytes"
	"path"
	"strings"
)

// unitDirs are the system unit directories systemd loads unit files from.
var unitDirs = []string{
	"/etc/systemd/system",
	"/run/systemd/system",
	"/usr/local/lib/systemd/system",
	"/usr/lib/systemd/system",
	"/lib/systemd/system",
}

const (
	maxUnitFile  = 1 << 20 // systemd's own limit on a unit file's lines
	maxUnitFiles = 20000   // unit files and drop-ins read per pass
)

// unitTargets returns the executables the ExecStart= and ExecStartPre= lines of the service
// units and their drop-ins name, and whether any unit directory exists.
func (s *Source) unitTargets() (targets []string, present bool) {
	seen := make(map[string]bool)
	read := 0
	add := func(p string) {
		if read++; read > maxUnitFiles {
			return
		}
		b, err := s.root.ReadFile(p, maxUnitFile)
		if err != nil {
			return
		}
		for _, t := range ExecPaths(b) {
			if !seen[t] {
				seen[t] = true
				targets = append(targets, t)
			}
		}
	}
	for _, dir := range unitDirs {
		entries, err := s.root.ReadDir(dir)
		if err != nil {
			continue
		}
		present = true
		for _, e := range entries {
			name := e.Name()
			switch {
			case strings.HasSuffix(name, ".service") && !e.IsDir():
				add(path.Join(dir, name))
			case strings.HasSuffix(name, ".service.d") && e.IsDir():
				drop, err := s.root.ReadDir(path.Join(dir, name))
				if err != nil {
					continue
				}
				for _, d := range drop {
					if strings.HasSuffix(d.Name(), ".conf") && !d.IsDir() {
						add(path.Join(dir, name, d.Name()))
					}
				}
			}
		}
	}
	return targets, present
}

// ExecPaths returns the executables of the ExecStart= and ExecStartPre= lines of the
// [Service] section of a unit file: the first word of the command line after systemd's
// prefixes (@ - : + !), when it is an absolute path without specifiers (%). Lines continued
// with a trailing backslash are joined first; comments are skipped.
func ExecPaths(b []byte) []string {
	var (
		out     []string
		section []byte
		cont    []byte
	)
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[len(line)-1] == '\\' && len(b) > 0 {
			cont = append(append(cont, line[:len(line)-1]...), ' ')
			continue
		}
		if cont != nil {
			line = bytes.TrimSpace(append(cont, line...))
			cont = nil
		}
		if len(line) == 0 || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			section = bytes.Trim(line, "[]")
			continue
		}
		eq := bytes.IndexByte(line, '=')
		if eq < 0 || string(section) != "Service" {
			continue
		}
		switch string(bytes.TrimSpace(line[:eq])) {
		case "ExecStart", "ExecStartPre":
			if p, ok := execPath(bytes.TrimSpace(line[eq+1:])); ok {
				out = append(out, p)
			}
		}
	}
	return out
}

func execPath(v []byte) (string, bool) {
	v = bytes.TrimLeft(v, "@-:+!")
	if len(v) > 0 && (v[0] == '"' || v[0] == '\'') {
		q := v[0]
		end := bytes.IndexByte(v[1:], q)
		if end < 0 {
			return "", false
		}
		v = v[1 : end+1]
	} else if i := bytes.IndexAny(v, " \t"); i >= 0 {
		v = v[:i]
	}
	if len(v) < 2 || v[0] != '/' || bytes.IndexByte(v, '%') >= 0 || bytes.IndexByte(v, '\\') >= 0 {
		return "", false
	}
	return path.Clean(string(v)), true
}
