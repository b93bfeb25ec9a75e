package systemd

import (
	"bytes"
	"errors"

	"github.com/onus-project/onus/agent/source"
)

// maxUnitFile is the largest unit file read, systemd's own line-length limit (LONG_LINE_MAX).
const maxUnitFile = 1 << 20

// maxDescription bounds the description kept from a unit file.
const maxDescription = 1024

// maxUser bounds the user kept from a unit file (a user name or uid; systemd allows 256).
const maxUser = 256

// errMalformed marks a unit file systemd itself would refuse to load.
var errMalformed = errors.New("malformed unit file")

// unitFile is what the inventory needs from one unit file.
type unitFile struct {
	Description string
	// Rules is true when [Install] has WantedBy=, RequiredBy=, UpheldBy= or Alias=: the unit can
	// be enabled. Also is true when it has Also=, which alone makes the unit "indirect".
	Rules bool
	Also  bool
	// User is the [Service] section's User=, the account the service runs as ("" when
	// unset: root for a system unit); the last assignment wins and an empty one resets it.
	User string
	// BadLines counts lines systemd would ignore with a warning (no '=', outside a section).
	BadLines int
}

// parseUnitFile reads the parts of a unit file the inventory needs, with systemd's syntax:
// "[Section]" headers, "Key=Value" assignments, '#' and ';' comments, a trailing backslash
// continuing the line (comment lines inside a continuation are dropped) and an empty
// assignment resetting a list. A section header that is not closed, a NUL byte or a file past
// maxUnitFile makes systemd refuse the unit, and so errMalformed here.
func parseUnitFile(data []byte) (unitFile, error) {
	var u unitFile
	if len(data) > maxUnitFile {
		return u, errMalformed
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return u, errMalformed
	}
	var (
		section  string
		cont     []byte // the logical line being continued, nil when none
		desc     []byte
		haveDesc bool
		user     []byte
		// Counts of list entries since the last reset, per [Install] key.
		wanted, required, upheld, alias, also int
	)
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		line = bytes.TrimSpace(line)
		if cont != nil && len(line) > 0 && (line[0] == '#' || line[0] == ';') {
			continue
		}
		if len(line) > 0 && line[len(line)-1] == '\\' {
			cont = append(append(cont, line[:len(line)-1]...), ' ')
			if len(data) > 0 {
				continue
			}
			line = nil
		}
		if cont != nil {
			line = bytes.TrimSpace(append(cont, line...))
			cont = nil
		}
		if len(line) == 0 || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			if len(line) < 3 || line[len(line)-1] != ']' {
				return unitFile{}, errMalformed
			}
			section = string(line[1 : len(line)-1])
			continue
		}
		eq := bytes.IndexByte(line, '=')
		if eq < 0 || section == "" {
			u.BadLines++
			continue
		}
		key := bytes.TrimSpace(line[:eq])
		value := bytes.TrimSpace(line[eq+1:])
		switch section {
		case "Unit":
			if string(key) == "Description" {
				desc, haveDesc = value, true
			}
		case "Service":
			if string(key) == "User" {
				user = value
			}
		case "Install":
			n := len(bytes.Fields(value))
			switch string(key) {
			case "WantedBy":
				wanted = resetOrAdd(wanted, n)
			case "RequiredBy":
				required = resetOrAdd(required, n)
			case "UpheldBy":
				upheld = resetOrAdd(upheld, n)
			case "Alias":
				alias = resetOrAdd(alias, n)
			case "Also":
				also = resetOrAdd(also, n)
			}
		}
	}
	if haveDesc {
		u.Description = cleanText(desc, maxDescription)
	}
	u.User = cleanText(user, maxUser)
	u.Rules = wanted+required+upheld+alias > 0
	u.Also = also > 0
	return u, nil
}

// resetOrAdd applies one list assignment: an empty one resets the list.
func resetOrAdd(count, n int) int {
	if n == 0 {
		return 0
	}
	return count + n
}

// cleanText returns b as report text of at most max bytes (source.Text): a unit file's
// description may hold any byte.
func cleanText(b []byte, max int) string { return source.Text(b, max) }
