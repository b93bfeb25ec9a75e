package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"time"
)

// enrollmentCommands is the usage text of the enrollment commands.
const enrollmentCommands = `  enrollments list [--state pending|approved|denied] [--json]
                                      enrollments of enrolled host IDs held for a decision
  enrollments approve ID...           let the agent that made it enroll; the host's old credential stops working
  enrollments deny ID...              refuse it; the enrolled agent keeps reporting
`

// runEnrollments runs enrollments list, approve and deny.
func runEnrollments(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "approve" && args[0] != "deny") {
		fmt.Fprintf(stderr, "onus-collector enrollments: want list, approve or deny\n")
		return 2
	}
	cmd := "enrollments " + args[0]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	var state string
	var jsonOut bool
	if cmd == "enrollments list" {
		fs.StringVar(&state, "state", "", "only enrollments in this state: pending, approved or denied")
		fs.BoolVar(&jsonOut, "json", false, "print the enrollments as JSON")
	}
	pos, ok := parseInterspersed(fs, args[1:])
	if !ok {
		return 2
	}
	switch {
	case cmd == "enrollments list" && len(pos) > 0:
		fmt.Fprintf(stderr, "onus-collector %s: unexpected argument %q\n", cmd, pos[0])
		return 2
	case cmd != "enrollments list" && len(pos) == 0:
		fmt.Fprintf(stderr, "onus-collector %s: want one or more enrollment IDs (see onus-collector enrollments list)\n", cmd)
		return 2
	case state != "" && state != "pending" && state != "approved" && state != "denied":
		fmt.Fprintf(stderr, "onus-collector %s: --state %q: want pending, approved or denied\n", cmd, state)
		return 2
	}
	c, err := cf.client()
	if err != nil {
		fmt.Fprintf(stderr, "onus-collector %s: %v\n", cmd, err)
		return 2
	}
	if cmd == "enrollments list" {
		err = c.enrollmentsList(stdout, state, jsonOut)
	} else {
		err = c.decide(stdout, args[0], pos)
	}
	if err != nil {
		fmt.Fprintf(stderr, "onus-collector %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// enrollmentItem is what enrollments list prints of an enrollment.
type enrollmentItem struct {
	ID               string    `json:"id"`
	HostID           string    `json:"host_id"`
	State            string    `json:"state"`
	Reason           string    `json:"reason"`
	Remote           string    `json:"remote"`
	Hostname         string    `json:"hostname"`
	EnrolledHostname string    `json:"enrolled_hostname"`
	RequestedAt      time.Time `json:"requested_at"`
}

func (c *Client) enrollmentsList(w io.Writer, state string, jsonOut bool) error {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	return printList(c, w, "/api/v1/enrollments", q, jsonOut, "ID\tHOST ID\tSTATE\tREASON\tREMOTE\tHOSTNAME\tENROLLED HOSTNAME\tREQUESTED", func(tw io.Writer, e *enrollmentItem) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.HostID, e.State, dash(e.Reason), dash(e.Remote), dash(e.Hostname),
			dash(e.EnrolledHostname), e.RequestedAt.UTC().Format(time.RFC3339))
	})
}

// decide approves or denies enrollments, stopping at the first failure.
func (c *Client) decide(w io.Writer, verb string, ids []string) error {
	for _, id := range ids {
		b, err := c.Do("POST", "/api/v1/enrollments/"+url.PathEscape(id)+"/"+verb, "", "application/json", nil)
		if err != nil {
			return fmt.Errorf("enrollment %s: %w", id, err)
		}
		var e enrollmentItem
		if err := json.Unmarshal(b, &e); err != nil {
			return fmt.Errorf("enrollment %s: %w", id, err)
		}
		if verb == "approve" {
			fmt.Fprintf(w, "approved enrollment %s of host %s (from %s): its agent gets a credential when it next asks, and the host's earlier credential stops working\n", id, e.HostID, dash(e.Remote))
		} else {
			fmt.Fprintf(w, "denied enrollment %s of host %s (from %s): the enrolled agent keeps its credential\n", id, e.HostID, dash(e.Remote))
		}
	}
	return nil
}
