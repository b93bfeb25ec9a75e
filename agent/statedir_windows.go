package main

import (
	"os"
	"path/filepath"
)

// platformStateDir is %ProgramData%\Onus\agent, where Windows keeps a service's machine-wide
// data (C:\ProgramData unless the system says otherwise).
func platformStateDir() string {
	base := os.Getenv("ProgramData")
	if base == "" {
		base = `C:\ProgramData`
	}
	return filepath.Join(base, "Onus", "agent")
}
