package host

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/onus-project/onus/agent/hostfs"
)

// hostIDFile is the name of the generated host ID in the agent's state directory.
const hostIDFile = "host-id"

// hostID returns the host's stable identity and where it came from. gopsutil's HostID is not
// used: it falls back to the boot ID, which changes at every boot.
func hostID(r hostfs.Root, stateDir string) (id, from string, err error) {
	if id := normaliseMachineID(firstLine(r, "/etc/machine-id")); id != "" {
		return id, "machine-id", nil
	}
	if id := normaliseUUID(firstLine(r, "/sys/class/dmi/id/product_uuid")); id != "" {
		return id, "product-uuid", nil
	}
	if stateDir == "" {
		return "", "", fmt.Errorf("host id: no machine-id, no SMBIOS product UUID and no state directory to keep a generated ID in")
	}
	id, err = generatedID(stateDir)
	if err != nil {
		return "", "", fmt.Errorf("host id: %w", err)
	}
	return id, "generated", nil
}

// normaliseMachineID accepts the 32 lower-case hex digits of machine-id(5); "uninitialized"
// (first boot) and all-zero IDs are not identities.
func normaliseMachineID(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) != 32 || !isHex(s) || strings.Trim(s, "0") == "" {
		return ""
	}
	return s
}

// normaliseUUID accepts an SMBIOS UUID, refusing the placeholders firmware ships with.
func normaliseUUID(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	hex := strings.ReplaceAll(s, "-", "")
	if len(hex) != 32 || !isHex(hex) {
		return ""
	}
	switch {
	case strings.Trim(hex, "0") == "", strings.Trim(hex, "f") == "",
		hex == "03000200040005000006000700080009": // a common unset value
		return ""
	}
	return s
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// generatedID reads the ID kept in stateDir, or creates and keeps one (a random UUID).
func generatedID(stateDir string) (string, error) {
	p := filepath.Join(stateDir, hostIDFile)
	if b, err := os.ReadFile(p); err == nil {
		if id := normaliseUUID(string(b)); id != "" {
			return id, nil
		}
		return "", fmt.Errorf("%s holds no valid ID; remove it to generate a new one", p)
	} else if !os.IsNotExist(err) {
		return "", err
	}
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return "", err
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	id := fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(stateDir, hostIDFile+".*")
	if err != nil {
		return "", err
	}
	_, werr := tmp.WriteString(id + "\n")
	if err := tmp.Sync(); werr == nil {
		werr = err
	}
	if err := tmp.Close(); werr == nil {
		werr = err
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), p)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return "", werr
	}
	return id, nil
}
