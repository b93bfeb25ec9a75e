//go:build !darwin

package host

// darwinRelease is empty away from darwin: a macOS root mounted elsewhere has no kernel
// running.
func darwinRelease() string { return "" }
