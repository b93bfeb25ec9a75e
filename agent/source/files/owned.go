package files

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/agent/source/rpm"
)

// The package databases whose file lists say which files a package owns.
const (
	dpkgInfo     = "/var/lib/dpkg/info"
	apkDBDir     = "/lib/apk/db"
	apkInstalled = apkDBDir + "/installed"
	pacmanLocal  = "/var/lib/pacman/local"
	maxList      = 64 << 20  // one dpkg .list or pacman files file
	maxAPK       = 256 << 20 // apk's whole database
)

// owned removes from cands the files a package database lists. A list path names the file as
// the package shipped it (/bin/sh), the candidates as they are on the host (/usr/bin/sh
// where /bin is a link to usr/bin): the directory of each list path whose file name is a
// candidate's is resolved on the host, once per directory. A database that exists but cannot
// be read fails the pass, since every file it owns would otherwise be reported as no
// package's.
func (s *Source) owned(ctx context.Context, cands map[string]*candidate) (removed int, err error) {
	stamp := s.dbStamp()
	if removed, ok := s.memo.reuse(stamp, cands); ok {
		s.pass.skipped += s.memo.skipped
		s.pass.stats.OwnedReused = true
		return removed, nil
	}
	before := make([]string, 0, len(cands))
	for p := range cands {
		before = append(before, p)
	}
	skipped := s.pass.skipped
	removed, err = s.readOwned(ctx, cands)
	if err == nil {
		s.memo.remember(stamp, before, cands, s.pass.skipped-skipped)
	} else {
		s.memo.forget()
	}
	return removed, err
}

// readOwned is owned, reading the databases.
func (s *Source) readOwned(ctx context.Context, cands map[string]*candidate) (removed int, err error) {
	bases := make(map[string]bool, len(cands))
	for p := range cands {
		bases[path.Base(p)] = true
	}
	dirs := make(map[string]string)
	drop := func(p []byte) {
		if len(p) == 0 || p[len(p)-1] == '/' {
			return
		}
		i := bytes.LastIndexByte(p, '/')
		if i < 0 || !bases[string(p[i+1:])] {
			return
		}
		dir := string(p[:i])
		if dir == "" {
			dir = "/"
		}
		rd, ok := dirs[dir]
		if !ok {
			rd = s.hostDir(dir)
			dirs[dir] = rd
		}
		for _, full := range [2]string{string(p), path.Join(rd, string(p[i+1:]))} {
			if _, ok := cands[full]; ok {
				delete(cands, full)
				removed++
			}
		}
	}
	for _, read := range []func(context.Context, hostfs.Root, func([]byte)) error{dpkgOwned, apkOwned, pacmanOwned, s.rpmOwned} {
		if err := read(ctx, s.root, drop); err != nil {
			return removed, err
		}
		if len(cands) == 0 {
			break
		}
	}
	return removed, nil
}

// ListedPaths calls fn with every path the file lists of dpkg (/var/lib/dpkg/info/*.list),
// apk (/lib/apk/db/installed) and pacman (/var/lib/pacman/local/*/files) name, under root;
// a database that is absent lists nothing. rpm's database is read by this source alone.
func ListedPaths(ctx context.Context, root hostfs.Root, fn func([]byte)) error {
	for _, read := range []func(context.Context, hostfs.Root, func([]byte)) error{dpkgOwned, apkOwned, pacmanOwned} {
		if err := read(ctx, root, fn); err != nil {
			return err
		}
	}
	return nil
}

// hostDir returns the directory dir as it is on the host, its links resolved inside the root;
// dir itself when it cannot be resolved.
func (s *Source) hostDir(dir string) string {
	if _, host, err := s.real(dir); err == nil {
		return host
	}
	return dir
}

func dpkgOwned(ctx context.Context, root hostfs.Root, fn func([]byte)) error {
	entries, err := root.ReadDir(dpkgInfo)
	if hostfs.NotPresent(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("files: dpkg: %w", err)
	}
	for i, e := range entries {
		if i%64 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if !strings.HasSuffix(e.Name(), ".list") || !e.Type().IsRegular() {
			continue
		}
		b, err := root.ReadFile(dpkgInfo+"/"+e.Name(), maxList)
		if hostfs.NotPresent(err) {
			continue // removed by dpkg since the listing
		}
		if err != nil {
			return fmt.Errorf("files: dpkg: %w", err)
		}
		ListPaths(b, fn)
	}
	return nil
}

// ListPaths calls fn with each path of a dpkg .list file: one absolute path per line,
// directories included.
func ListPaths(b []byte, fn func([]byte)) {
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		if len(line) > 1 && line[0] == '/' {
			fn(line)
		}
	}
}

func apkOwned(_ context.Context, root hostfs.Root, fn func([]byte)) error {
	b, err := root.ReadFile(apkInstalled, maxAPK)
	if hostfs.NotPresent(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("files: apk: %w", err)
	}
	APKPaths(b, fn)
	return nil
}

// APKPaths calls fn with each file of apk's installed database: "F:" names a directory
// (relative to /), each "R:" after it a file in it; a blank line ends a package.
func APKPaths(b []byte, fn func([]byte)) {
	var dir, buf []byte
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		switch {
		case len(line) == 0:
			dir = nil
		case bytes.HasPrefix(line, []byte("F:")):
			dir = line[2:]
		case bytes.HasPrefix(line, []byte("R:")) && len(line) > 2 && dir != nil:
			buf = append(append(append(append(buf[:0], '/'), dir...), '/'), line[2:]...)
			fn(buf)
		}
	}
}

func pacmanOwned(ctx context.Context, root hostfs.Root, fn func([]byte)) error {
	entries, err := root.ReadDir(pacmanLocal)
	if hostfs.NotPresent(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("files: pacman: %w", err)
	}
	for i, e := range entries {
		if i%64 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if !e.IsDir() {
			continue
		}
		b, err := root.ReadFile(pacmanLocal+"/"+e.Name()+"/files", maxList)
		if hostfs.NotPresent(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("files: pacman: %w", err)
		}
		PacmanPaths(b, fn)
	}
	return nil
}

// PacmanPaths calls fn with each path of a pacman local database files file: the lines of
// its %FILES% section, relative to /, directories ending in '/'.
func PacmanPaths(b []byte, fn func([]byte)) {
	var buf []byte
	in := false
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		switch {
		case len(line) > 1 && line[0] == '%' && line[len(line)-1] == '%':
			in = string(line) == "%FILES%"
		case len(line) == 0:
			in = false
		case in:
			buf = append(append(buf[:0], '/'), line...)
			fn(buf)
		}
	}
}

func (s *Source) rpmOwned(ctx context.Context, _ hostfs.Root, fn func([]byte)) error {
	skipped, err := rpm.Files(ctx, s.root, fn)
	if errors.Is(err, source.ErrNotPresent) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	// A header that cannot be decoded hides the files of its package: counted as skipped.
	s.pass.skipped += skipped
	return nil
}
