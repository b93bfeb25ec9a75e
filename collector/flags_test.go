package main

import (
	"testing"

	"github.com/onus-project/onus/internal/cliconf/cliconftest"
)

// TestServeFlagsWinOverConfigFile checks every flag of serve, found by walking its flag set:
// given together with a configuration file that sets the same key to another value, the flag
// wins.
func TestServeFlagsWinOverConfigFile(t *testing.T) {
	cliconftest.FlagsWin(t, serveCommand)
}
