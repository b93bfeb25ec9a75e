package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"text/tabwriter"
	"time"

	"github.com/onus-project/onus/internal/owners"
)

// assetsQuery is what assets list asks for.
type assetsQuery struct {
	kind, owner, window    string
	unowned, orphaned, new bool
}

func (q *assetsQuery) check(cmd string) error {
	if cmd != "assets list" {
		return nil
	}
	switch q.kind {
	case "host", "software":
	case "service":
		// The service list counts service titles across hosts; owners are per instance.
		if q.owner != "" || q.unowned || q.orphaned || q.new {
			return errors.New("--owner, --unowned, --orphaned and --new apply to hosts and software; a service's owner is per host (see why service:<host id>/<service>)")
		}
	case "":
		return errors.New("--kind is required: host, software or service")
	default:
		return fmt.Errorf("--kind %q: want host, software or service", q.kind)
	}
	if q.new && q.kind != "software" {
		return errors.New("--new applies to --kind software")
	}
	return nil
}

// path returns the API path of the first page.
func (q *assetsQuery) path() (string, url.Values) {
	v := url.Values{}
	if q.owner != "" {
		v.Set("owner", q.owner)
	}
	if q.unowned {
		v.Set("unowned", "true")
	}
	if q.orphaned {
		v.Set("orphaned", "true")
	}
	if q.new {
		// Newly installed on an enrolled host (not in its first report), first seen in the
		// fleet within the window; with --unowned this is the API's unowned_new.
		v.Set("installed", "true")
		v.Set("new_since", q.window)
	}
	p := map[string]string{"host": "/api/v1/hosts", "software": "/api/v1/software", "service": "/api/v1/services"}[q.kind]
	return p, v
}

// listAll reads every page of a list of the API (an empty list is empty, not nil).
func (c *Client) listAll(path string, q url.Values) ([]json.RawMessage, error) {
	all := []json.RawMessage{}
	for {
		b, err := c.Do("GET", path+"?"+q.Encode(), "", "application/json", nil)
		if err != nil {
			return nil, err
		}
		var page struct {
			Items    []json.RawMessage `json:"items"`
			Continue string            `json:"continue"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.Continue == "" {
			return all, nil
		}
		q.Set("continue", page.Continue)
	}
}

// asset is the union of the fields the three lists print.
type asset struct {
	ID             string    `json:"id,omitempty"`
	Hostname       string    `json:"hostname,omitempty"`
	OS             string    `json:"os,omitempty"`
	Title          string    `json:"title,omitempty"`
	Kind           string    `json:"kind,omitempty"`
	Hosts          int       `json:"hosts,omitempty"`
	InstalledHosts int       `json:"installed_hosts,omitempty"`
	FirstSeen      time.Time `json:"first_seen,omitzero"`
	owners.Resolution
}

// assets reads every page of a list and prints it.
func (c *Client) assets(w io.Writer, q assetsQuery, jsonOut bool) error {
	path, v := q.path()
	var header string
	switch q.kind {
	case "host":
		header = "ID\tHOSTNAME\tOS\tOWNER\tDECIDED BY"
	case "software":
		header = "TITLE\tHOSTS\tFIRST SEEN\tOWNER\tDECIDED BY"
	case "service":
		header = "TITLE\tKIND\tHOSTS"
	}
	return printList(c, w, path, v, jsonOut, header, func(tw io.Writer, a *asset) {
		switch q.kind {
		case "host":
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.ID, a.Hostname, dash(a.OS), ownerText(&a.Resolution), decidedBy(&a.Resolution))
		case "software":
			seen := "-"
			if !a.FirstSeen.IsZero() {
				seen = a.FirstSeen.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", a.Title, a.Hosts, seen, ownerText(&a.Resolution), decidedBy(&a.Resolution))
		case "service":
			fmt.Fprintf(tw, "%s\t%s\t%d\n", a.Title, a.Kind, a.Hosts)
		}
	})
}

// printList reads every page of a list and prints it as indented JSON (the items as the API
// gave them), or as a table: header, then one row per item decoded as a T.
func printList[T any](c *Client, w io.Writer, path string, q url.Values, jsonOut bool, header string, row func(io.Writer, *T)) error {
	all, err := c.listAll(path, q)
	if err != nil {
		return err
	}
	if jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(all)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, raw := range all {
		var item T
		if err := json.Unmarshal(raw, &item); err != nil {
			return err
		}
		row(tw, &item)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ownerText(r *owners.Resolution) string {
	switch {
	case r.Owner == "":
		return "(none)"
	case r.Orphaned:
		return r.Owner + " (retired)"
	}
	return r.Owner
}

func decidedBy(r *owners.Resolution) string {
	s := r.Provenance.Type
	if r.Provenance.RuleID != "" {
		s += " " + r.Provenance.RuleID
	}
	return dash(s)
}

// exportQuery is what export asks for.
type exportQuery struct {
	kind, format, out string
}

func (q *exportQuery) check(cmd string) error {
	if cmd != "export" {
		return nil
	}
	if q.kind != "hosts" && q.kind != "software" {
		return fmt.Errorf("--kind %q: want hosts or software", q.kind)
	}
	if q.format != "csv" && q.format != "json" {
		return fmt.Errorf("--format %q: want csv or json", q.format)
	}
	return nil
}

func (c *Client) export(w io.Writer, q exportQuery) error {
	accept := "text/csv"
	if q.format == "json" {
		accept = "application/json"
	}
	b, err := c.Do("GET", "/api/v1/export?"+url.Values{"kind": {q.kind}, "format": {q.format}}.Encode(), "", accept, nil)
	if err != nil {
		return err
	}
	if q.out == "" || q.out == "-" {
		_, err = w.Write(b)
		return err
	}
	// Write beside the target and rename, so a failed export leaves no half file.
	tmp := q.out + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, q.out); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
