package dpkg

import (
	"bytes"
	"strconv"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// This file adds what apt records of each installation to the packages dpkg lists: whether it
// was asked for or pulled in as a dependency (/var/lib/apt/extended_states), and who installed
// it with which command (/var/log/apt/history.log, history.go). Both are best effort: a file
// that is missing, unreadable or malformed leaves the fields empty and never fails the source;
// what could not be read is counted in Result.Skipped.

const (
	aptStateDir        = "/var/lib/apt"
	extendedStatesPath = aptStateDir + "/extended_states"
	aptLogDir          = "/var/log/apt"
	// maxExtendedStates bounds the extended_states read: three short lines a package, ~50 KiB
	// for 1,000 packages.
	maxExtendedStates = 16 << 20

	evidenceStates  = "apt-extended-states"
	evidenceHistory = "apt-history"
)

// parseExtendedStates parses apt's extended_states: stanzas of Package, Architecture and
// Auto-Installed ("1" when apt installed the package as a dependency), calling fn with each.
// skipped counts the stanzas without a valid package name or with an Auto-Installed value
// other than 0 or 1.
func parseExtendedStates(data []byte, fn func(name, arch []byte, auto bool)) (skipped int) {
	var name, arch, auto []byte
	fields := 0
	flush := func() {
		switch {
		case fields == 0:
		case len(name) == 0 || !validName(name) || len(auto) > 1 || len(auto) == 1 && auto[0] != '0' && auto[0] != '1':
			skipped++
		default:
			fn(name, arch, len(auto) == 1 && auto[0] == '1')
		}
		name, arch, auto, fields = nil, nil, nil, 0
	}
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			flush()
			continue
		}
		fields++
		key, val, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		val = bytes.TrimSpace(val)
		switch string(key) {
		case "Package":
			name = val
		case "Architecture":
			arch = val
		case "Auto-Installed":
			auto = val
		}
	}
	flush()
	return skipped
}

// aptInfo fills the InstallInfo fields of pkgs from apt's records under root and returns how
// many records or files could not be read. states and logs say whether extended_states and
// the log directory exist: a host without apt costs no further look.
func aptInfo(root hostfs.Root, pkgs []model.Package, states, logs bool) (skipped int) {
	if !states && !logs {
		return 0
	}
	idx := newIndex(pkgs)
	if states {
		data, err := root.ReadFile(extendedStatesPath, maxExtendedStates)
		switch {
		case err == nil:
			skipped += parseExtendedStates(data, idx.mark)
		case !hostfs.NotPresent(err):
			skipped++
			states = false
		default:
			states = false
		}
	}
	if logs {
		skipped += idx.readHistory(root)
	}
	users := make(map[*histStanza]string)
	for i := range pkgs {
		p := &pkgs[i]
		if states {
			// apt counts every package it does not mark as automatically installed as
			// manually installed (apt-mark showmanual), those dpkg installed alone included.
			p.Requested = requested(idx.auto[i])
			p.Evidence = evidenceStates
		}
		r := idx.recs[i]
		if r.stanza == nil {
			continue
		}
		if !states {
			p.Requested = requested(r.auto)
		}
		st := r.stanza
		if _, done := users[st]; !done {
			users[st] = installedBy(st.user)
			st.cmdText = source.Text(st.cmd, protocol.MaxFieldLen)
		}
		p.InstalledBy, p.InstallCommand, p.Evidence = users[st], st.cmdText, evidenceHistory
	}
	return skipped
}

func requested(auto bool) string {
	if auto {
		return model.RequestedDependency
	}
	return model.RequestedExplicit
}

// installedBy turns a history stanza's Requested-By, "alice (1000)", into the user. apt writes
// Requested-By when it runs under sudo or pkexec (from SUDO_UID or PKEXEC_UID, with the user's
// name where the passwd database has it); without it apt ran as root itself, since only root
// can take its lock, and so the user is root.
func installedBy(by []byte) string {
	if len(by) == 0 {
		return "root"
	}
	name, _, _ := bytes.Cut(by, []byte(" ("))
	name = bytes.TrimSpace(name)
	if len(name) == 0 || name[0] == '(' {
		// Only a uid: "(1000)".
		uid := bytes.TrimSuffix(bytes.TrimPrefix(bytes.TrimSpace(by), []byte("(")), []byte(")"))
		if _, err := strconv.ParseUint(string(uid), 10, 32); err == nil {
			return "uid:" + string(uid)
		}
		return source.Text(by, protocol.MaxFieldLen)
	}
	return source.Text(name, protocol.MaxFieldLen)
}
