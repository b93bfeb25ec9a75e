package source

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"

	"github.com/onus-project/onus/agent/hostfs"
)

// OpenRegular opens the file at real (a path under the host root, already resolved) for
// reading only if it is a regular file: a link the last element is (or has become since it
// was listed) is not followed, a FIFO does not block, a terminal does not become the
// agent's. It returns the file and what it is.
func OpenRegular(real string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(real, openRegularFlags, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: not a regular file", real)
	}
	return f, fi, nil
}

// ReadRegular reads the regular file at real whole, failing with hostfs.ErrTooLarge past max
// bytes without reading further, and failing on anything but a regular file as OpenRegular
// does.
func ReadRegular(real string, max int64) ([]byte, error) {
	f, fi, err := OpenRegular(real)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > max {
		return nil, fmt.Errorf("%s: %w", real, hostfs.ErrTooLarge)
	}
	return hostfs.ReadAll(f, real, max)
}

// Account is one account of the host's /etc/passwd that has a home.
type Account struct {
	Name, Home string
	UID        int
}

// MaxAccounts bounds how many accounts Accounts returns.
const MaxAccounts = 1000

// Accounts returns the accounts of the host's /etc/passwd with an absolute home other than
// "/", root's included, each home once (the first account naming it), at most MaxAccounts.
// A host without a readable passwd file has none.
func Accounts(root hostfs.Root) []Account {
	b, err := root.ReadFile("/etc/passwd", 4<<20)
	if err != nil {
		return nil
	}
	var out []Account
	seen := map[string]bool{}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		f := bytes.Split(line, []byte(":"))
		if len(f) < 7 || len(f[0]) == 0 || f[0][0] == '+' || f[0][0] == '-' {
			continue
		}
		uid, err := strconv.Atoi(string(f[2]))
		home := path.Clean(string(f[5]))
		if err != nil || uid < 0 || !path.IsAbs(home) || home == "/" || seen[home] {
			continue
		}
		seen[home] = true
		out = append(out, Account{Name: Text(f[0], 256), Home: home, UID: uid})
		if len(out) == MaxAccounts {
			break
		}
	}
	return out
}
