package container

import (
	"bytes"
	"path"
	"strconv"

	"github.com/onus-project/onus/agent/hostfs"
)

// account is one account of /etc/passwd with a home where a rootless runtime may keep a store.
type account struct {
	name, home string
	uid        int
}

// maxAccounts bounds how many homes are looked into.
const maxAccounts = 1000

// accounts returns the accounts of /etc/passwd other than root (whose runtimes use the
// system's stores), with an absolute home other than "/", each home once.
func accounts(root hostfs.Root) []account {
	b, err := readFile(root, "/etc/passwd", 4<<20)
	if err != nil {
		return nil
	}
	var out []account
	seen := map[string]bool{}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		f := bytes.Split(line, []byte(":"))
		if len(f) < 7 || len(f[0]) == 0 {
			continue
		}
		uid, err := strconv.Atoi(string(f[2]))
		home := path.Clean(string(f[5]))
		if err != nil || uid <= 0 || !path.IsAbs(home) || home == "/" || seen[home] {
			continue
		}
		seen[home] = true
		out = append(out, account{name: string(f[0]), home: home, uid: uid})
		if len(out) == maxAccounts {
			break
		}
	}
	return out
}
