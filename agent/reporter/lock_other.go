//go:build !linux

package reporter

import "errors"

// lockHeld cannot tell on this system: changes are only debounced.
func lockHeld(string) (bool, error) { return false, errors.ErrUnsupported }
