package gobin

import (
	"debug/buildinfo"
	"errors"
	"io"
	"runtime/debug"
	"strings"
)

// ErrNotGo is returned by Read for a file that is not a Go binary: not ELF, or an ELF binary
// without Go build information.
var ErrNotGo = errors.New("not a Go binary")

// errBudget is returned by the capped reader past MaxRead bytes.
var errBudget = errors.New("build information read past its budget")

// Info is a binary's build information.
type Info struct{ *debug.BuildInfo }

func (bi *Info) setting(key string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// Read reads the build information of the ELF file r of the given size, reading at most
// MaxRead bytes of it. A file that is not ELF is ErrNotGo without reading more than its first
// bytes; so is an ELF binary that has no Go build information.
func Read(r io.ReaderAt, size int64) (bi *Info, err error) {
	var magic [4]byte
	if n, _ := r.ReadAt(magic[:], 0); n < len(magic) || string(magic[:]) != "\x7fELF" {
		return nil, ErrNotGo
	}
	defer func() {
		// debug/elf reads whatever a hostile file holds; a panic in it must not end the pass.
		if recover() != nil {
			bi, err = nil, errors.New("corrupt ELF")
		}
	}()
	c := &capped{r: io.NewSectionReader(r, 0, size), left: MaxRead}
	info, err := buildinfo.Read(c)
	switch {
	case err == nil:
		return &Info{info}, nil
	case c.left <= 0:
		return nil, errBudget
	case strings.Contains(err.Error(), "not a Go executable"):
		return nil, ErrNotGo
	}
	return nil, err
}

// capped is a ReaderAt that fails once it has read its budget.
type capped struct {
	r    io.ReaderAt
	left int64
}

func (c *capped) ReadAt(p []byte, off int64) (int, error) {
	if int64(len(p)) > c.left {
		c.left = 0
		return 0, errBudget
	}
	n, err := c.r.ReadAt(p, off)
	c.left -= int64(n)
	return n, err
}
