package cli_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/onus-project/onus/collector/cli"
)

// TestEnrollmentsUsage checks that the enrollments commands refuse bad usage with exit 2
// and a message naming the problem, before reaching any collector.
func TestEnrollmentsUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"enrollments"}, "want list, approve or deny"},
		{[]string{"enrollments", "accept", "x"}, "want list, approve or deny"},
		{[]string{"enrollments", "approve"}, "want one or more enrollment IDs"},
		{[]string{"enrollments", "deny", "--server", "http://127.0.0.1:1"}, "want one or more enrollment IDs"},
		{[]string{"enrollments", "list", "extra"}, `unexpected argument "extra"`},
		{[]string{"enrollments", "list", "--state", "maybe"}, `--state "maybe"`},
	} {
		var out bytes.Buffer
		if code := cli.Run(c.args, &out, &out); code != 2 || !strings.Contains(out.String(), c.want) {
			t.Errorf("%q: exit %d, %q; want 2 and %q", c.args, code, out.String(), c.want)
		}
	}
	if !cli.Handles("enrollments") {
		t.Error("enrollments is not a client command")
	}
}
