package rpm

import (
	"bytes"
	"io"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// This file adds what libzypp (zypper, YaST, PackageKit on SUSE) records of each installation
// to the packages rpm lists, for those dnf says nothing of:
//
//   - /var/lib/zypp/AutoInstalled: the names of the packages installed as dependencies, one a
//     line; every other package was asked for;
//
//   - /var/log/zypp/history (its newest maxZyppHistory bytes; libzypp's logrotate
//     configuration rotates it at 10 MB): lines of fields separated by '|' (a '|' or '\' in a
//     field escaped with '\'), among them, for every commit,
//
//     2026-12-07 16:01:02|command|root@host|'zypper' 'install' 'acme-hello'|userdata|
//     2026-12-07 16:01:03|install|acme-libhello|1.0-1|x86_64||repo|checksum|userdata
//     2026-12-07 16:01:03|install|acme-hello|1.0-1|x86_64|root@host|repo|checksum|userdata
//     2026-12-07 16:05:00|remove |acme-tool|1:3.0-1|noarch|root@host|userdata
//
//     where the sixth field of an install is who asked for it, user@host (the effective user,
//     as cuserid(3) names it), pid:application, or empty when the solver chose it.
const (
	zyppHistoryPath       = "/var/log/zypp/history"
	zyppAutoInstalledPath = "/var/lib/zypp/AutoInstalled"
	maxZyppHistory        = 8 << 20
	maxAutoInstalled      = 16 << 20

	evidenceZyppHistory = "zypp-history"
	evidenceZyppAuto    = "zypp-autoinstalled"
)

// zyppCommand is one commit's command line and its user.
type zyppCommand struct {
	user, cmd string
}

// zyppRecord is the newest install line of an installed package's version.
type zyppRecord struct {
	command *zyppCommand
	by      []byte // the line's requested-by field
	set     bool
}

// zyppInfo fills the InstallInfo fields of the packages in x that dnf did not attribute, and
// returns how many records or files could not be read.
func zyppInfo(root hostfs.Root, x *pkgIndex) (skipped int) {
	auto, hasAuto, n := readAutoInstalled(root)
	skipped += n
	recs := make([]zyppRecord, len(x.pkgs))
	data, err := readLogTail(root, zyppHistoryPath, maxZyppHistory)
	switch {
	case err == nil:
		skipped += parseZyppHistory(data, x, recs)
	case !hostfs.NotPresent(err):
		skipped++
	}
	for i := range x.pkgs {
		p := &x.pkgs[i]
		if p.Evidence != "" {
			continue
		}
		if hasAuto {
			p.Requested, p.Evidence = model.RequestedExplicit, evidenceZyppAuto
			if auto[p.Name] {
				p.Requested = model.RequestedDependency
			}
		}
		r := recs[i]
		if !r.set {
			continue
		}
		if !hasAuto {
			p.Requested = model.RequestedDependency
			if len(r.by) > 0 {
				p.Requested = model.RequestedExplicit
			}
		}
		p.InstalledBy, p.Evidence = zyppUser(r.by), evidenceZyppHistory
		if r.command != nil {
			if p.InstalledBy == "" {
				p.InstalledBy = r.command.user
			}
			p.InstallCommand = r.command.cmd
		}
	}
	return skipped
}

// readAutoInstalled reads the names of AutoInstalled; ok is false without the file.
func readAutoInstalled(root hostfs.Root) (names map[string]bool, ok bool, skipped int) {
	data, err := root.ReadFile(zyppAutoInstalledPath, maxAutoInstalled)
	if err != nil {
		if hostfs.NotPresent(err) {
			return nil, false, 0
		}
		return nil, false, 1
	}
	names = map[string]bool{}
	for line := range splitLines(data) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		names[string(line)] = true
	}
	return names, true, 0
}

// parseZyppHistory applies the history's command, install and remove lines, in order, to
// recs; it returns how many install or remove lines were malformed.
func parseZyppHistory(data []byte, x *pkgIndex, recs []zyppRecord) (skipped int) {
	var (
		cmd    *zyppCommand
		fields [][]byte
		found  []int
	)
	for line := range splitLines(data) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		fields = splitZyppFields(line, fields[:0])
		if len(fields) < 2 {
			skipped++
			continue
		}
		switch string(bytes.TrimSpace(fields[1])) {
		case "command":
			if len(fields) < 4 {
				skipped++
				continue
			}
			cmd = &zyppCommand{user: zyppUser(fields[2]), cmd: source.Text(fields[3], protocol.MaxFieldLen)}
		case "install", "remove":
			if len(fields) < 6 || len(fields[2]) == 0 {
				skipped++
				continue
			}
			remove := string(bytes.TrimSpace(fields[1])) == "remove"
			found = found[:0]
			for _, i := range x.byName[string(fields[2])] {
				if p := &x.pkgs[i]; p.Arch == string(fields[4]) && p.Version == string(fields[3]) {
					found = append(found, i)
				}
			}
			for _, i := range found {
				if remove {
					recs[i] = zyppRecord{}
				} else {
					recs[i] = zyppRecord{command: cmd, by: bytes.Clone(fields[5]), set: true}
				}
			}
		}
	}
	return skipped
}

// splitZyppFields splits a history line at the '|' not escaped by '\', unescaping the
// fields; they share one copy of the line only where an escape was removed.
func splitZyppFields(line []byte, out [][]byte) [][]byte {
	if bytes.IndexByte(line, '\\') < 0 {
		for f := range bytes.SplitSeq(line, []byte{'|'}) {
			out = append(out, f)
		}
		return out
	}
	var cur []byte
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '\\' && i+1 < len(line):
			i++
			cur = append(cur, line[i])
		case c == '|':
			out = append(out, cur)
			cur = nil
		default:
			cur = append(cur, c)
		}
	}
	return append(out, cur)
}

// zyppUser is the user of a requested-by field, "root@host": "" for an empty field or an
// application's "pid:name".
func zyppUser(by []byte) string {
	user, _, ok := cut(by, '@')
	if !ok || len(user) == 0 {
		return ""
	}
	return source.Text(user, protocol.MaxNameLen)
}

// readLogTail returns the newest keep bytes of the log at p under root, from a line start.
func readLogTail(root hostfs.Root, p string, keep int64) ([]byte, error) {
	rp, err := root.Resolve(p)
	if err != nil {
		return nil, err
	}
	f, fi, err := source.OpenRegular(rp)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	off := max(fi.Size()-keep, 0)
	b := make([]byte, fi.Size()-off)
	n, err := f.ReadAt(b, off)
	if err != nil && err != io.EOF {
		return nil, err
	}
	b = b[:n]
	if off > 0 {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		} else {
			b = nil
		}
	}
	return b, nil
}
