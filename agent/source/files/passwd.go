package files

import (
	"bytes"
	"strconv"

	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/protocol"
)

const maxPasswd = 16 << 20

// users returns the user names of the host's /etc/passwd by uid; the first line of a uid
// wins, as getpwuid finds it.
func (s *Source) users() map[uint32]string {
	b, err := s.root.ReadFile("/etc/passwd", maxPasswd)
	if err != nil {
		return nil
	}
	return ParsePasswd(b)
}

// ParsePasswd parses passwd(5) lines, name:password:uid:gid:gecos:home:shell, into names by
// uid. Lines without a name or a numeric uid are ignored.
func ParsePasswd(b []byte) map[uint32]string {
	out := make(map[uint32]string)
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		f := bytes.SplitN(line, []byte(":"), 4)
		if len(f) < 4 || len(f[0]) == 0 || f[0][0] == '+' || f[0][0] == '-' {
			continue
		}
		uid, err := strconv.ParseUint(string(f[2]), 10, 32)
		if err != nil {
			continue
		}
		if _, ok := out[uint32(uid)]; !ok {
			out[uint32(uid)] = source.Text(f[0], protocol.MaxNameLen)
		}
	}
	return out
}
