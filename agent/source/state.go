package source

import (
	"os"
	"path/filepath"

	"github.com/onus-project/onus/agent/hostfs"
)

// WriteState replaces the file name of the agent's state directory dir with b, by a rename,
// so that a reader sees the old file or the new one, never a part. Sources keep there what
// spares an agent restarted on an unchanged host reading everything again.
func WriteState(dir, name string, b []byte) error {
	tmp, err := os.CreateTemp(dir, name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, name))
}

// ReadState returns the file name of the state directory dir, read up to max bytes.
func ReadState(dir, name string, max int64) ([]byte, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return hostfs.ReadAll(f, name, max)
}
