package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrExists is returned by WriteFiles when a file is there already and overwriting was not
// asked for.
var ErrExists = errors.New("already exists")

// File is a file to write: its name in the directory, its contents and mode.
type File struct {
	Name string
	Data []byte
	Mode fs.FileMode
}

// Files returns the files of a pair named base: base.pem (0644) and base-key.pem (0600).
func (p *Pair) Files(base string) []File {
	return []File{{Name: base + ".pem", Data: p.CertPEM, Mode: 0o644}, {Name: base + "-key.pem", Data: p.KeyPEM, Mode: 0o600}}
}

// WriteFiles writes files into dir (made 0700 when missing). Unless overwrite is set, it
// writes nothing at all when one of them exists. Each file is written to a temporary name
// and renamed, so a reader never sees half a key, and gets its mode whatever the umask.
func WriteFiles(dir string, files []File, overwrite bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if !overwrite {
		for _, f := range files {
			p := filepath.Join(dir, f.Name)
			if _, err := os.Lstat(p); err == nil {
				return fmt.Errorf("pki: %s %w (--force overwrites it)", p, ErrExists)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("pki: %w", err)
			}
		}
	}
	for _, f := range files {
		if err := writeFile(dir, f); err != nil {
			return fmt.Errorf("pki: %w", err)
		}
	}
	return nil
}

func writeFile(dir string, f File) error {
	tmp, err := os.CreateTemp(dir, "."+f.Name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(f.Mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(f.Data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, f.Name))
}

// LoadPool reads a PEM file of CA certificates into a new pool.
func LoadPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}
