package host

import "syscall"

// darwinRelease returns the running kernel's release (Darwin 23.5.0 is macOS 14.5).
func darwinRelease() string {
	s, err := syscall.Sysctl("kern.osrelease")
	if err != nil {
		return ""
	}
	return s
}
