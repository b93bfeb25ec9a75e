//go:build !linux

package host

import "runtime"

// unameMachine returns Go's name for the architecture where uname(2) is not at hand.
func unameMachine() string { return runtime.GOARCH }
