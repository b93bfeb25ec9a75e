package pacman

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// pacman records in each package's desc whether it was installed explicitly or as a
// dependency (%REASON% 1; no %REASON%, or 0, when explicitly), and appends to
// /var/log/pacman.log, for every transaction, the command that started it and what it did:
//
//	[2024-05-06T14:40:12+0000] [PACMAN] Running 'pacman -S nginx'
//	[2024-05-06T14:40:12+0000] [ALPM] transaction started
//	[2024-05-06T14:40:12+0000] [ALPM] installed nginx (1.26.0-1)
//	[2024-05-06T14:40:13+0000] [ALPM] upgraded curl (8.7.1-5 -> 8.7.1-6)
//	[2024-05-06T14:40:13+0000] [ALPM] transaction completed
//
// The newest maxLog bytes of the log are read; the command of the newest transaction that
// installed the version now installed is the package's InstallCommand. pacman always runs as
// root and its log does not say who ran it (through sudo or not), so InstalledBy stays empty.
const (
	logPath     = "/var/log/pacman.log"
	maxLog      = 4 << 20 // a few years of a desktop's upgrades
	evidenceDB  = "pacman-db"
	evidenceLog = "pacman-log"
)

// reason turns a desc's %REASON% into InstallInfo.Requested.
func reason(b []byte) string {
	if len(b) == 1 && b[0] == '1' {
		return model.RequestedDependency
	}
	return model.RequestedExplicit
}

// logEvent is one package a transaction installed (or removed), with the command that ran it.
type logEvent struct {
	remove        bool
	name, version []byte
	cmd           []byte // nil when no command preceded it in what was read
}

// parseLog calls fn with every installed, reinstalled, upgraded, downgraded or removed line of
// the log, in order, each with the newest command line before it. skipped counts the ALPM
// lines of those kinds that are not "name (version)" or "name (old -> new)".
func parseLog(data []byte, fn func(logEvent)) (skipped int) {
	var cmd []byte
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		// "[timestamp] [CALLER] message": the timestamp's format changed in pacman 5.1.
		if len(line) == 0 || line[0] != '[' {
			continue
		}
		i := bytes.Index(line, []byte("] ["))
		if i < 0 {
			continue
		}
		caller, msg, ok := bytes.Cut(line[i+3:], []byte("] "))
		if !ok {
			continue
		}
		switch string(caller) {
		case "PACMAN":
			if c, ok := bytes.CutPrefix(msg, []byte("Running '")); ok {
				cmd = bytes.TrimSuffix(c, []byte("'"))
			}
		case "ALPM":
			verb, rest, _ := bytes.Cut(msg, []byte{' '})
			remove := false
			switch string(verb) {
			case "installed", "reinstalled", "upgraded", "downgraded":
			case "removed":
				remove = true
			default:
				continue
			}
			e, ok := logEntry(rest)
			if !ok {
				skipped++
				continue
			}
			e.remove, e.cmd = remove, cmd
			fn(e)
		}
	}
	return skipped
}

// logEntry parses "name (version)" or "name (old -> new)".
func logEntry(b []byte) (logEvent, bool) {
	name, v, ok := bytes.Cut(b, []byte(" ("))
	if !ok || !validName(name) || len(v) < 2 || v[len(v)-1] != ')' {
		return logEvent{}, false
	}
	v = v[:len(v)-1]
	if _, after, ok := bytes.Cut(v, []byte(" -> ")); ok {
		v = after
	}
	if !validVersion(v) {
		return logEvent{}, false
	}
	return logEvent{name: name, version: v}, true
}

// logInfo fills InstallCommand from the log under root for the packages pkgs, sorted by name,
// and returns 1 when the log exists but cannot be read (what was read is still used), plus
// its malformed lines.
func logInfo(root hostfs.Root, pkgs []model.Package) (skipped int) {
	data, err := readTail(root, logPath, maxLog)
	if err != nil {
		if hostfs.NotPresent(err) {
			return 0
		}
		skipped++
	}
	if len(data) == 0 {
		return skipped
	}
	byName := make(map[string]int, len(pkgs))
	for i := range pkgs {
		byName[pkgs[i].Name] = i
	}
	cmds := make([][]byte, len(pkgs))
	found := make([]bool, len(pkgs))
	skipped += parseLog(data, func(e logEvent) {
		i, ok := byName[string(e.name)]
		switch {
		case !ok:
		case e.remove:
			cmds[i], found[i] = nil, false
		case pkgs[i].Version == string(e.version):
			cmds[i], found[i] = e.cmd, true
		}
	})
	texts := make(map[string]string) // one string per command line, shared by its packages
	for i := range pkgs {
		if !found[i] || cmds[i] == nil {
			continue
		}
		t, ok := texts[string(cmds[i])]
		if !ok {
			t = source.Text(cmds[i], protocol.MaxFieldLen)
			texts[string(cmds[i])] = t
		}
		pkgs[i].InstallCommand, pkgs[i].Evidence = t, evidenceLog
	}
	return skipped
}

// readTail returns the newest limit bytes of the file p under root, from the start of a line.
func readTail(root hostfs.Root, p string, limit int64) ([]byte, error) {
	rp, err := root.Resolve(p)
	if err != nil {
		return nil, err
	}
	// O_NONBLOCK: a FIFO in place of the log must not hang the agent on open.
	f, err := os.OpenFile(rp, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	off := max(fi.Size()-limit, 0)
	b := make([]byte, fi.Size()-off)
	n, err := f.ReadAt(b, off)
	b = b[:n]
	if err == io.EOF {
		err = nil
	}
	if off > 0 {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		} else {
			b = nil
		}
	}
	return b, err
}
