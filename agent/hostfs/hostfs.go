// Package hostfs reads the host's files under an injected root (the agent's --host-root), the
// way a chrooted process would: absolute symbolic links resolve inside the root, never outside
// it, and every read is capped.
package hostfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// MaxFileSize is the default cap for whole-file reads.
const MaxFileSize = 64 << 20

// ErrTooLarge is returned when a file is larger than the cap given for reading it.
var ErrTooLarge = errors.New("file exceeds size limit")

// Root is a host root directory, "/" on the host itself.
type Root string

// Path joins the host-absolute path p to the root without resolving links.
func (r Root) Path(p string) string {
	if r == "" || r == "/" {
		return hostPath(p)
	}
	return filepath.Join(string(r), filepath.Clean("/"+p))
}

// hostPath is the host-absolute path p on the host itself, cleaned with slashes first: on
// Windows, filepath.Clean would read a leading "//" as a UNC path, where "/" is the current
// drive's root.
func hostPath(p string) string { return filepath.FromSlash(path.Clean("/" + p)) }

// Resolve returns the path of the host-absolute path p under the root, with every symbolic
// link on the way resolved inside the root: a link to "/etc/x" means root+"/etc/x", and ".."
// stops at the root. The last element need not exist.
func (r Root) Resolve(p string) (string, error) {
	root := string(r)
	if root == "" {
		root = "/"
	}
	if root == "/" {
		// On the host itself the kernel does the same resolution.
		return hostPath(p), nil
	}
	const maxLinks = 40
	links := 0
	resolved := "/"
	rest := strings.Split(filepath.Clean("/"+p), "/")
	for len(rest) > 0 {
		elem := rest[0]
		rest = rest[1:]
		switch elem {
		case "", ".":
			continue
		case "..":
			resolved = filepath.Dir(resolved)
			continue
		}
		next := filepath.Join(resolved, elem)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				// Keep the rest as it is: the caller gets a not-exist error when it opens it.
				resolved = filepath.Join(append([]string{next}, rest...)...)
				return filepath.Join(root, resolved), nil
			}
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		links++
		if links > maxLinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			resolved = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return filepath.Join(root, resolved), nil
}

// Open opens the host-absolute path p for reading, resolving links inside the root.
func (r Root) Open(p string) (*os.File, error) {
	rp, err := r.Resolve(p)
	if err != nil {
		return nil, hostErr(err, p)
	}
	f, err := os.Open(rp)
	return f, hostErr(err, p)
}

// hostErr names the host path p, not the path under the root, in a file error, so that
// messages read the same on the host and in a container mounting it.
func hostErr(err error, p string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: filepath.Clean("/" + p), Err: pe.Err}
	}
	return err
}

// ReadFile reads the host-absolute path p whole, failing with ErrTooLarge past max bytes
// (MaxFileSize when max <= 0).
func (r Root) ReadFile(p string, max int64) ([]byte, error) {
	f, err := r.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f, p, max)
}

// ReadAll reads f whole, failing with ErrTooLarge past max bytes (MaxFileSize when max <= 0).
// name is used in the error.
func ReadAll(f io.Reader, name string, max int64) ([]byte, error) {
	if max <= 0 {
		max = MaxFileSize
	}
	var buf []byte
	if st, ok := f.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if fi, err := st.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
			if fi.Size() > max {
				return nil, fmt.Errorf("%s: %w (%d > %d bytes)", name, ErrTooLarge, fi.Size(), max)
			}
			buf = make([]byte, 0, fi.Size()+1)
		}
	}
	if buf == nil {
		buf = make([]byte, 0, 4096)
	}
	lr := &io.LimitedReader{R: f, N: max + 1}
	for {
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
	if int64(len(buf)) > max {
		return nil, fmt.Errorf("%s: %w (more than %d bytes)", name, ErrTooLarge, max)
	}
	return buf, nil
}

// Stat stats the host-absolute path p, resolving links inside the root.
func (r Root) Stat(p string) (fs.FileInfo, error) {
	rp, err := r.Resolve(p)
	if err != nil {
		return nil, hostErr(err, p)
	}
	fi, err := os.Stat(rp)
	return fi, hostErr(err, p)
}

// ReadDir lists the host-absolute directory p, resolving links inside the root.
func (r Root) ReadDir(p string) ([]fs.DirEntry, error) {
	rp, err := r.Resolve(p)
	if err != nil {
		return nil, hostErr(err, p)
	}
	des, err := os.ReadDir(rp)
	return des, hostErr(err, p)
}

// Exists reports whether the host-absolute path p exists under the root.
func (r Root) Exists(p string) bool {
	_, err := r.Stat(p)
	return err == nil
}

// NotPresent reports whether err means a file or directory does not exist.
func NotPresent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscallENOTDIR)
}
