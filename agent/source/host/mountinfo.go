package host

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
)

// Mount is one line of /proc/<pid>/mountinfo.
type Mount struct {
	Root       string // the directory of the file system mounted here
	Mountpoint string
	Type       string
	Device     string
	ReadOnly   bool
}

// ParseMountinfo parses proc(5)'s mountinfo format; malformed lines are skipped.
func ParseMountinfo(b []byte) []Mount {
	var out []Mount
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		pre, post, ok := bytes.Cut(line, []byte(" - "))
		if !ok {
			continue
		}
		f := strings.Fields(string(pre))
		pf := strings.Fields(string(post))
		if len(f) < 6 || len(pf) < 2 {
			continue
		}
		m := Mount{Root: unescapeOctal(f[3]), Mountpoint: unescapeOctal(f[4]), Type: pf[0], Device: unescapeOctal(pf[1])}
		for _, o := range strings.Split(f[5], ",") {
			if o == "ro" {
				m.ReadOnly = true
			}
		}
		out = append(out, m)
	}
	return out
}

// unescapeOctal undoes the kernel's \ooo escapes of spaces, tabs, newlines and backslashes.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// bootTime reads the boot time from /proc/stat's btime line.
func bootTime(r hostfs.Root) (time.Time, error) {
	b, err := r.ReadFile("/proc/stat", 4<<20)
	if err != nil {
		return time.Time{}, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n <= 0 {
				return time.Time{}, fmt.Errorf("/proc/stat: bad btime %q", v)
			}
			return time.Unix(n, 0).UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("/proc/stat: no btime line")
}
