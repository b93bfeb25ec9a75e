package files

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// walkRoots are the trees searched for executables no package owns.
var walkRoots = []string{"/usr/local", "/opt", "/srv"}

// candidate is an executable found by the walk or named by a unit.
type candidate struct {
	host string // the path on the host, the root removed
	real string // the path under the root to open
	st   fileStat
	exec bool // it has an exec bit; without, it is kept only if it turns out an AppImage
}

// skipDir reports whether the directory name, in the directory parent (a host path), holds
// what other sources read or no executable of its own: a package manager's tree of its own
// packages, a version control store, or the sources, tests, documentation, headers and
// data that come with software (/usr/local/go/src alone is 13,000 files, its scripts no
// software of their own).
func skipDir(parent, name string) bool {
	switch name {
	case "node_modules", "site-packages", "dist-packages", "__pycache__", ".git", ".hg", ".svn",
		"src", "test", "tests", "testdata", "doc", "docs", "man", "include", "locale", "fonts", "icons":
		return true
	}
	// /usr/local/lib/python3.11, /opt/app/lib/python3.12: pip's trees, whose scripts are in
	// bin/ and whose packages the language sources read.
	return strings.HasPrefix(name, "python") && filepath.Base(parent) == "lib"
}

// isAppImageName reports whether a file without an exec bit is worth opening to look for an
// AppImage's magic: only files named like one are, so that the walk does not open every file.
func isAppImageName(name string) bool {
	return len(name) > len(".appimage") && strings.EqualFold(name[len(name)-len(".appimage"):], ".appimage")
}

// real returns where the host path p is under the root, every link on the way resolved
// inside the root, and the host path that names it.
func (s *Source) real(p string) (real, host string, err error) {
	if s.rootDir == "/" {
		r, err := filepath.EvalSymlinks(p)
		return r, r, err
	}
	rp, err := s.root.Resolve(p)
	if err != nil {
		return "", "", err
	}
	host = strings.TrimPrefix(rp, s.rootDir)
	if host == "" {
		host = "/"
	}
	return rp, host, nil
}

// walk adds the executables under the walk roots to cands and reports whether any root exists.
func (s *Source) walk(ctx context.Context, cands map[string]*candidate) (present bool) {
	for _, top := range walkRoots {
		real, host, err := s.real(top)
		if err != nil {
			continue
		}
		fi, err := os.Lstat(real)
		if err != nil || !fi.IsDir() {
			continue
		}
		present = true
		s.walkDir(ctx, real, host, 0, statOf(fi).Dev, cands)
	}
	return present
}

// walkDir walks the directory real (host path host, depth levels below a walk root, on the
// file system dev) without following links, entering no other file system, and stopping at
// the pass's visit cap.
func (s *Source) walkDir(ctx context.Context, real, host string, depth int, dev uint64, cands map[string]*candidate) {
	f, err := os.OpenFile(real, openFlags, 0)
	if err != nil {
		s.pass.stats.Unreadable++
		return
	}
	defer f.Close()
	for {
		entries, err := f.ReadDir(256)
		for _, e := range entries {
			if s.pass.stats.Visited >= s.opts.MaxVisit {
				s.pass.stats.Truncated = true
				return
			}
			s.pass.stats.Visited++
			if s.pass.stats.Visited%1024 == 0 && ctx.Err() != nil {
				return
			}
			name := e.Name()
			childReal, childHost := real+"/"+name, host+"/"+name
			if host == "/" {
				childHost = "/" + name
			}
			switch t := e.Type(); {
			case t.IsDir():
				if depth+1 >= s.opts.MaxDepth || skipDir(host, name) {
					continue
				}
				fi, err := e.Info()
				if err != nil || !fi.IsDir() {
					continue
				}
				if st := statOf(fi); st.Dev == dev {
					s.walkDir(ctx, childReal, childHost, depth+1, dev, cands)
				}
			case t.IsRegular():
				fi, err := e.Info()
				if err != nil || !fi.Mode().IsRegular() {
					continue
				}
				exec := fi.Mode()&0o111 != 0
				if exec || isAppImageName(name) {
					cands[childHost] = &candidate{host: childHost, real: childReal, st: statOf(fi), exec: exec}
				}
			}
		}
		if err != nil {
			if err != io.EOF {
				s.pass.stats.Unreadable++
			}
			return
		}
	}
}

// addTargets adds the executables the units name to cands, wherever they are.
func (s *Source) addTargets(targets []string, cands map[string]*candidate) {
	for _, t := range targets {
		real, host, err := s.real(t)
		if err != nil {
			continue
		}
		if _, ok := cands[host]; ok {
			continue
		}
		fi, err := os.Lstat(real)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			continue
		}
		cands[host] = &candidate{host: host, real: real, st: statOf(fi), exec: true}
	}
}
