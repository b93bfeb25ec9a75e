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

// isGoRoot reports whether the directory real, named name, is a Go distribution (/usr/local/go,
// /opt/go1.22): its VERSION says "go…" and it has bin/go. Its commands are the title
// "go:toolchain" of the gobin source, and its tools, scripts and tests no software of their own.
func isGoRoot(name, real string) bool {
	if !strings.HasPrefix(name, "go") {
		return false
	}
	if fi, err := os.Lstat(real + "/bin/go"); err != nil || !fi.Mode().IsRegular() {
		return false
	}
	f, err := os.OpenFile(real+"/VERSION", openFlags, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [3]byte
	n, _ := io.ReadFull(f, b[:])
	return n == 3 && string(b[:]) == "go1"
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
// A walk root that is a link to "/" or to a directory holding another walk root (/srv -> /,
// /opt -> /usr) is not walked: the walk would cover the whole system, not that tree.
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
		if coversOthers(host) {
			s.pass.stats.CutShort++
			continue
		}
		w := walker{s: s, ctx: ctx, dev: statOf(fi).Dev, cands: cands}
		w.run(real, host)
		s.pass.stats.Visited += w.visited
	}
	return present
}

// coversOthers reports whether the host directory dir, where a walk root leads, is "/" or
// holds a walk root other than itself.
func coversOthers(dir string) bool {
	if dir == "/" {
		return true
	}
	for _, r := range walkRoots {
		if r != dir && strings.HasPrefix(r, dir+"/") {
			return true
		}
	}
	return false
}

// walker walks one walk root, breadth first: the shallow directories where software puts
// its programs (/srv/app/bin) are seen before the visit cap can be spent deep in a data
// tree beside them (/srv/data/2024/...).
type walker struct {
	s       *Source
	ctx     context.Context
	dev     uint64 // the walk root's file system
	cands   map[string]*candidate
	queue   []queued
	visited int
	stopped bool // the root's visit cap was reached
}

// queued is a directory waiting to be read.
type queued struct {
	real, host string
	depth      int
}

// run walks the tree of the directory real, host path host.
func (w *walker) run(real, host string) {
	w.queue = append(w.queue[:0], queued{real, host, 0})
	for len(w.queue) > 0 && !w.stopped && w.ctx.Err() == nil {
		d := w.queue[0]
		w.queue[0] = queued{}
		w.queue = w.queue[1:]
		w.dir(d.real, d.host, d.depth)
	}
}

// dir reads the directory real (host path host, depth levels below the walk root) without
// following links, queueing the subdirectories on the walk root's file system, reading at
// most MaxDirSize of its entries, and stopping at the root's visit cap.
func (w *walker) dir(real, host string, depth int) {
	st := &w.s.pass.stats
	f, err := os.OpenFile(real, openFlags, 0)
	if err != nil {
		st.Unreadable++
		return
	}
	defer f.Close()
	for read := 0; ; {
		entries, err := f.ReadDir(256)
		for _, e := range entries {
			switch {
			case w.visited >= w.s.opts.MaxVisit:
				if !w.stopped {
					w.stopped, st.Truncated = true, true
					st.CutShort++
				}
				return
			case read >= w.s.opts.MaxDirSize:
				st.Truncated = true
				st.CutShort++
				return
			}
			read++
			w.visited++
			if w.visited%1024 == 0 && w.ctx.Err() != nil {
				return
			}
			w.entry(e, real, host, depth)
		}
		if err != nil {
			if err != io.EOF {
				st.Unreadable++
			}
			return
		}
	}
}

// entry looks at one entry of the directory real (host path host).
func (w *walker) entry(e os.DirEntry, real, host string, depth int) {
	name := e.Name()
	childReal, childHost := real+"/"+name, host+"/"+name
	if host == "/" {
		childHost = "/" + name
	}
	switch t := e.Type(); {
	case t.IsDir():
		if depth+1 >= w.s.opts.MaxDepth || skipDir(host, name) || isGoRoot(name, childReal) {
			return
		}
		fi, err := e.Info()
		if err != nil || !fi.IsDir() {
			return
		}
		if st := statOf(fi); st.Dev == w.dev {
			w.queue = append(w.queue, queued{childReal, childHost, depth + 1})
		}
	case t.IsRegular():
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			return
		}
		exec := fi.Mode()&0o111 != 0
		if exec || isAppImageName(name) {
			w.cands[childHost] = &candidate{host: childHost, real: childReal, st: statOf(fi), exec: exec}
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
