package main

import (
	"testing"

	"github.com/onus-project/onus/internal/cliconf/cliconftest"
)

// TestRunFlagsWinOverConfigFile checks every flag of run, found by walking its flag set:
// given together with a configuration file that sets the same key to another value, the flag
// wins.
func TestRunFlagsWinOverConfigFile(t *testing.T) {
	cliconftest.FlagsWin(t, runCommand)
}
