package dpkg

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/internal/model"
)

// apt appends one stanza to /var/log/apt/history.log for every run that changed packages:
//
//	Start-Date: 2026-12-07  16:01:02
//	Commandline: apt-get install -y dnf
//	Requested-By: alice (1000)
//	Install: dnf:amd64 (4.14.0-3+deb12u1), libdnf2-common:amd64 (0.69.0-2, automatic)
//	Upgrade: tzdata:amd64 (2025b-0+deb12u1, 2025b-0+deb12u2)
//	End-Date: 2026-12-07  16:01:10
//
// and logrotate keeps older ones as history.log.1 and history.log.N.gz. Only the newest
// maxHistory bytes of them are read, and at most maxRotated rotated files, so that a host
// with years of history (or a log grown without bound) costs a bounded read.
const (
	historyName = "history.log"
	maxHistory  = 8 << 20 // a busy server writes well under 1 MiB a year
	maxRotated  = 12      // apt's logrotate configuration keeps 12
	// maxInflate bounds the bytes decompressed from one rotated file, of which the newest
	// maxHistory are kept: a compressed file of a few MiB can hold gigabytes.
	maxInflate = 64 << 20
)

// histStanza is what one history stanza says of who ran apt, and how.
type histStanza struct {
	user, cmd []byte // Requested-By and Commandline, as written
	cmdText   string // cmd as report text, made once for all its packages
}

// histEntry is one package of a stanza's Install, Upgrade, Downgrade, Reinstall, Remove or
// Purge list, its version the one installed after the run.
type histEntry struct {
	remove              bool
	name, arch, version []byte
	auto                bool // "automatic": installed as a dependency
	stanza              *histStanza
}

// parseHistory calls fn with every entry of the history stanzas in data, in order. It returns
// how many stanzas were malformed (a line that is not "Key: value", or a list entry that is
// not "name:arch (version[, ...])"): their well-formed entries are still reported.
func parseHistory(data []byte, fn func(histEntry)) (skipped int) {
	for len(data) > 0 {
		var block []byte
		if i := bytes.Index(data, []byte("\n\n")); i >= 0 {
			block, data = data[:i], data[i+2:]
		} else {
			block, data = data, nil
		}
		if len(bytes.TrimSpace(block)) == 0 {
			continue
		}
		if !parseStanza(block, fn) {
			skipped++
		}
	}
	return skipped
}

// parseStanza reports the entries of one stanza; ok is false when part of it was malformed.
func parseStanza(block []byte, fn func(histEntry)) (ok bool) {
	st := &histStanza{}
	ok = true
	var lists [][2][]byte // key, value
	for len(block) > 0 {
		var line []byte
		if i := bytes.IndexByte(block, '\n'); i >= 0 {
			line, block = block[:i], block[i+1:]
		} else {
			line, block = block, nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			continue
		}
		key, val, found := bytes.Cut(line, []byte(": "))
		if !found {
			ok = false
			continue
		}
		switch string(key) {
		case "Commandline":
			st.cmd = val
		case "Requested-By":
			st.user = val
		case "Install", "Reinstall", "Upgrade", "Downgrade", "Remove", "Purge":
			lists = append(lists, [2][]byte{key, val})
		}
	}
	for _, l := range lists {
		remove := string(l[0]) == "Remove" || string(l[0]) == "Purge"
		two := string(l[0]) == "Upgrade" || string(l[0]) == "Downgrade"
		if !parseList(l[1], remove, two, st, fn) {
			ok = false
		}
	}
	return ok
}

// parseList reports the entries of one package list, "a:amd64 (1.0), b:all (2.0, automatic)";
// with two, each entry holds the version before and after ("(1.0, 1.1)").
func parseList(list []byte, remove, two bool, st *histStanza, fn func(histEntry)) (ok bool) {
	ok = true
	for len(list) > 0 {
		open := bytes.IndexByte(list, '(')
		end := bytes.IndexByte(list, ')')
		if open < 0 || end < open {
			return false
		}
		id, inner := bytes.TrimSpace(list[:open]), list[open+1:end]
		list = bytes.TrimLeft(list[end+1:], ", ")
		name, arch, _ := bytes.Cut(id, []byte{':'})
		if len(name) == 0 || !validName(name) {
			ok = false
			continue
		}
		e := histEntry{remove: remove, name: name, arch: arch, stanza: st}
		parts := bytes.Split(inner, []byte(", "))
		if two && len(parts) >= 2 {
			e.version, parts = parts[1], parts[2:]
		} else {
			e.version, parts = parts[0], parts[1:]
		}
		for _, p := range parts {
			e.auto = e.auto || string(p) == "automatic"
		}
		if len(e.version) == 0 {
			ok = false
			continue
		}
		fn(e)
	}
	return ok
}

// histRecord is the newest history entry that installed a package.
type histRecord struct {
	stanza *histStanza
	auto   bool
}

// index finds the installed packages that apt's records name, and holds what they say of
// each: apt names a package of architecture "all" with the native architecture.
type index struct {
	pkgs   []model.Package
	byName map[string]int // first index of each name in pkgs
	next   []int          // the next index of the same name, -1 at the end
	recs   []histRecord   // the newest history entry that installed the version now installed
	auto   []bool         // apt's Auto-Installed mark
}

func newIndex(pkgs []model.Package) *index {
	x := &index{pkgs: pkgs, byName: make(map[string]int, len(pkgs)), next: make([]int, len(pkgs)),
		recs: make([]histRecord, len(pkgs)), auto: make([]bool, len(pkgs))}
	for i := len(pkgs) - 1; i >= 0; i-- {
		x.next[i] = -1
		if j, ok := x.byName[pkgs[i].Name]; ok {
			x.next[i] = j
		}
		x.byName[pkgs[i].Name] = i
	}
	return x
}

// each calls fn with the index of every package apt's name:arch may be.
func (x *index) each(name, arch []byte, fn func(i int)) {
	i, ok := x.byName[string(name)]
	for ok && i >= 0 {
		if a := x.pkgs[i].Arch; a == string(arch) || a == "all" || a == "" {
			fn(i)
		}
		i = x.next[i]
	}
}

// mark applies one extended_states stanza.
func (x *index) mark(name, arch []byte, auto bool) {
	x.each(name, arch, func(i int) { x.auto[i] = auto })
}

// add applies one history entry.
func (x *index) add(e histEntry) {
	x.each(e.name, e.arch, func(i int) {
		switch {
		case e.remove:
			x.recs[i] = histRecord{}
		case x.pkgs[i].Version == string(e.version):
			x.recs[i] = histRecord{stanza: e.stanza, auto: e.auto}
		}
	})
}

// readHistory reads apt's history logs under root, oldest first so that a newer entry
// replaces an older one. skipped counts the malformed stanzas and the files that could not be
// read whole.
func (x *index) readHistory(root hostfs.Root) (skipped int) {
	files, skipped := historyFiles(root)
	budget := maxHistory
	var texts [][]byte
	for _, f := range files {
		if budget <= 0 {
			break
		}
		b, err := readTail(root, path.Join(aptLogDir, f), budget)
		if err != nil {
			skipped++
			if len(b) == 0 {
				continue
			}
		}
		budget -= len(b)
		texts = append(texts, b)
	}
	for i := len(texts) - 1; i >= 0; i-- {
		skipped += parseHistory(texts[i], x.add)
	}
	return skipped
}

// historyFiles lists the history logs, newest first.
func historyFiles(root hostfs.Root) (files []string, skipped int) {
	entries, err := root.ReadDir(aptLogDir)
	if err != nil {
		if !hostfs.NotPresent(err) {
			skipped++
		}
		return nil, skipped
	}
	var rotated [maxRotated + 1]string
	for _, e := range entries {
		name := e.Name()
		if name == historyName {
			rotated[0] = name
			continue
		}
		n, ok := strings.CutPrefix(name, historyName+".")
		if !ok {
			continue
		}
		n = strings.TrimSuffix(n, ".gz")
		if k, err := strconv.Atoi(n); err == nil && k >= 1 && k <= maxRotated && rotated[k] == "" {
			rotated[k] = name
		}
	}
	for _, f := range rotated {
		if f != "" {
			files = append(files, f)
		}
	}
	return files, 0
}

// readTail returns the newest keep bytes of the history file p (decompressed when it ends in
// .gz), starting at a stanza boundary. With an error, what was read before it is returned.
func readTail(root hostfs.Root, p string, keep int) ([]byte, error) {
	rp, err := root.Resolve(p)
	if err != nil {
		return nil, err
	}
	// O_NONBLOCK: a FIFO in place of a log must not hang the agent on open.
	f, err := os.OpenFile(rp, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if !strings.HasSuffix(p, ".gz") {
		return tailOfFile(f, fi.Size(), keep)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	b, cut, err := tailOf(io.LimitReader(zr, maxInflate), keep)
	if cut {
		b = fromStanza(b)
	}
	return b, err
}

// tailOfFile reads the last keep bytes of the plain file f of size bytes.
func tailOfFile(f *os.File, size int64, keep int) ([]byte, error) {
	off := max(size-int64(keep), 0)
	b := make([]byte, size-off)
	n, err := f.ReadAt(b, off)
	b = b[:n]
	if err == io.EOF {
		err = nil
	}
	if off > 0 {
		b = fromStanza(b)
	}
	return b, err
}

// tailOf reads r to its end, keeping the last keep bytes; cut reports that some were dropped.
func tailOf(r io.Reader, keep int) (b []byte, cut bool, err error) {
	buf := make([]byte, 0, min(keep, 1<<20)*2)
	chunk := make([]byte, 64<<10)
	for {
		n, rerr := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if len(buf) > 2*keep {
			buf = append(buf[:0], buf[len(buf)-keep:]...)
			cut = true
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	if len(buf) > keep {
		buf, cut = buf[len(buf)-keep:], true
	}
	return buf, cut, err
}

// fromStanza drops the partial stanza at the start of a cut log.
func fromStanza(b []byte) []byte {
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		return b[i+2:]
	}
	return nil
}
