//go:build !linux

package ports

import "errors"

// diagUsable is false where there is no Linux sock_diag: the socket tables are read.
func (s *Source) diagUsable() bool { return false }

func diagSockets() ([]sock, error) { return nil, errors.New("sock_diag: not on this system") }
