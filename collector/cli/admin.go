package cli

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/onus-project/onus/internal/owners"
)

// adminCommands is the usage text of the operations commands.
const adminCommands = `  backup -o FILE                      save a verified snapshot of the store (admin token; see restore)
  hosts list [--hostname GLOB] [--label K=V] [--stale 3m] [--refused] [--json]
                                      list the enrolled hosts with their last report
  hosts delete HOST_ID...             remove hosts and revoke their credentials
`

// labels is a repeatable key=value flag.
type labels []string

func (l *labels) String() string { return strings.Join(*l, ",") }

func (l *labels) Set(s string) error {
	if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	*l = append(*l, s)
	return nil
}

// runAdmin runs backup, hosts list and hosts delete.
func runAdmin(cmd string, args []string, stdout, stderr io.Writer) int {
	if cmd == "hosts" {
		if len(args) == 0 || (args[0] != "list" && args[0] != "delete") {
			fmt.Fprintf(stderr, "onus-collector hosts: want list or delete\n")
			return 2
		}
		cmd, args = "hosts "+args[0], args[1:]
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	// backup: --timeout is the longest the snapshot's transfer may stall, however long it
	// takes in all.
	cf := addClientFlags(fs)
	var out, hostname, stale string
	var lbls labels
	var jsonOut, refused bool
	switch cmd {
	case "backup":
		fs.StringVar(&out, "o", "", "the snapshot file to write (replaced only by a complete, verified snapshot)")
	case "hosts list":
		fs.StringVar(&hostname, "hostname", "", "only hosts whose hostname matches this glob")
		fs.Var(&lbls, "label", "only hosts with this label (key=value; repeatable)")
		fs.StringVar(&stale, "stale", "", "only hosts that have not reported within this duration (e.g. 3m)")
		fs.BoolVar(&refused, "refused", false, "only hosts whose reports are refused")
		fs.BoolVar(&jsonOut, "json", false, "print the hosts as JSON")
	}
	// Flags may follow the host IDs of hosts delete.
	pos, ok := parseInterspersed(fs, args)
	if !ok {
		return 2
	}
	switch {
	case cmd == "hosts delete" && len(pos) == 0:
		fmt.Fprintf(stderr, "onus-collector hosts delete: want one or more host IDs\n")
		return 2
	case cmd != "hosts delete" && len(pos) > 0:
		fmt.Fprintf(stderr, "onus-collector %s: unexpected argument %q\n", cmd, pos[0])
		return 2
	case cmd == "backup" && out == "":
		fmt.Fprintf(stderr, "onus-collector backup: -o FILE is required\n")
		return 2
	}
	if stale != "" {
		if d, err := time.ParseDuration(stale); err != nil || d <= 0 {
			fmt.Fprintf(stderr, "onus-collector hosts list: --stale %q: want a duration such as 3m\n", stale)
			return 2
		}
	}
	c, err := cf.client()
	if err != nil {
		fmt.Fprintf(stderr, "onus-collector %s: %v\n", cmd, err)
		return 2
	}
	switch cmd {
	case "backup":
		var info SnapshotInfo
		if info, err = c.Backup(out); err == nil {
			fmt.Fprintf(stdout, "backup written to %s: %s; SHA-256 and database verified\n", out, info)
		}
	case "hosts list":
		v := url.Values{"hostname": {hostname}, "stale": {stale}, "label": lbls}
		if refused {
			v.Set("refused", "true")
		}
		for k, vs := range v {
			if len(vs) == 0 || vs[0] == "" {
				delete(v, k)
			}
		}
		err = c.hostsList(stdout, v, jsonOut)
	case "hosts delete":
		err = c.hostsDelete(stdout, pos)
	}
	if err != nil {
		fmt.Fprintf(stderr, "onus-collector %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// hostItem is what hosts list prints of a host.
type hostItem struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname"`
	OS       string `json:"os"`
	Software int    `json:"software"`
	Status   *struct {
		LastSeen time.Time `json:"seen"`
		Refused  *struct {
			Since  time.Time `json:"since"`
			Status int       `json:"status"`
			Reason string    `json:"reason"`
		} `json:"refused"`
	} `json:"status"`
	owners.Resolution
}

func (c *Client) hostsList(w io.Writer, q url.Values, jsonOut bool) error {
	// The reason comes last: it is the one long cell.
	return printList(c, w, "/api/v1/hosts", q, jsonOut, "ID\tHOSTNAME\tOS\tSOFTWARE\tLAST SEEN\tOWNER\tREFUSED", func(tw io.Writer, h *hostItem) {
		seen := "-"
		if h.Status != nil && !h.Status.LastSeen.IsZero() {
			seen = h.Status.LastSeen.UTC().Format(time.RFC3339)
		}
		refused := "-"
		if h.Status != nil && h.Status.Refused != nil {
			ref := h.Status.Refused
			refused = fmt.Sprintf("%d since %s: %s", ref.Status, ref.Since.UTC().Format(time.RFC3339), ref.Reason)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", h.ID, dash(h.Hostname), dash(h.OS), h.Software, seen, ownerText(&h.Resolution), refused)
	})
}

// hostsDelete removes hosts, stopping at the first failure.
func (c *Client) hostsDelete(w io.Writer, ids []string) error {
	for _, id := range ids {
		if _, err := c.Do("DELETE", "/api/v1/hosts/"+url.PathEscape(id), "", "application/json", nil); err != nil {
			return fmt.Errorf("host %s: %w", id, err)
		}
		fmt.Fprintf(w, "deleted host %s: its inventory is removed and its credential revoked\n", id)
	}
	// The agent enrolls again on the 401 its next report gets.
	fmt.Fprintln(w, "an agent still running with an accepted enroll secret enrolls again: stop it, or rotate the enroll secret, to keep its host out")
	return nil
}
