// Package cli is the client side of onus-collector's ownership and operations commands:
// owners apply, owners get, assets list, why, coverage, export, backup, hosts and
// enrollments (the held enrollments of enrolled host IDs, approved or denied) talk to a
// collector's admin API with a bearer token.
package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/pki"
)

// Commands lists the commands Run handles, for the usage text of onus-collector.
const Commands = `  owners apply -f FILE [--dry-run]   apply an owners.yaml (or show what it would change)
  owners get                          print the ownership registry (JSON)
  why ASSET                           who owns an asset and why (host:<id>, software:deb:nginx,
                                      service:<host id>/systemd:nginx.service)
  coverage                            ownership coverage per asset kind
  assets list --kind host|software|service [--owner ID] [--unowned] [--orphaned] [--new]
                                      list assets with their owners (table, or --json)
  export --kind hosts|software [--format csv|json] [-o FILE]
                                      audit export (CIS Controls v8 1.1 and 2.1)
` + adminCommands + enrollmentCommands

// Handles reports whether Run handles the command.
func Handles(cmd string) bool {
	switch cmd {
	case "owners", "why", "coverage", "assets", "export", "backup", "hosts", "enrollments":
		return true
	}
	return false
}

// Client talks to a collector's admin API.
type Client struct {
	Server string
	Token  string
	HTTP   *http.Client
}

// Run runs a command (args[0] is its name) and returns the exit code: 0 on success, 1 when
// the request fails, 2 on a usage error.
func Run(args []string, stdout, stderr io.Writer) int {
	cmd := args[0]
	args = args[1:]
	switch cmd {
	case "backup", "hosts":
		return runAdmin(cmd, args, stdout, stderr)
	case "enrollments":
		return runEnrollments(args, stdout, stderr)
	}
	cmd, args, ok := subcommand(cmd, args, stderr)
	if !ok {
		return 2
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	o := bindCommand(fs, cmd)
	// Flags may follow the asset of why.
	pos, ok := parseInterspersed(fs, args)
	if !ok {
		return 2
	}
	if err := o.check(cmd, pos); err != nil {
		fmt.Fprintf(stderr, "onus-collector %s: %v\n", cmd, err)
		return 2
	}
	c, err := cf.client()
	if err != nil {
		fmt.Fprintf(stderr, "onus-collector %s: %v\n", cmd, err)
		return 2
	}
	if err := o.run(c, cmd, pos, stdout); err != nil {
		fmt.Fprintf(stderr, "onus-collector %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// subcommand joins a command and its verb where it has one ("owners apply").
func subcommand(cmd string, args []string, stderr io.Writer) (string, []string, bool) {
	verbs := map[string][]string{"owners": {"apply", "get"}, "assets": {"list"}}[cmd]
	if verbs == nil {
		return cmd, args, true
	}
	if len(args) == 0 || !slices.Contains(verbs, args[0]) {
		fmt.Fprintf(stderr, "onus-collector %s: want %s\n", cmd, strings.Join(verbs, " or "))
		return "", nil, false
	}
	return cmd + " " + args[0], args[1:], true
}

// command holds the flags of the reading and owners commands.
type command struct {
	file            string
	dryRun, jsonOut bool
	al              assetsQuery
	ex              exportQuery
}

// bindCommand defines cmd's own flags on fs.
func bindCommand(fs *flag.FlagSet, cmd string) *command {
	o := &command{}
	switch cmd {
	case "owners apply":
		fs.StringVar(&o.file, "f", "", "the owners file (YAML; - for standard input)")
		fs.BoolVar(&o.dryRun, "dry-run", false, "show what would change and write nothing")
		fs.BoolVar(&o.jsonOut, "json", false, "print the answer as JSON")
	case "coverage", "why":
		fs.BoolVar(&o.jsonOut, "json", false, "print the answer as JSON")
	case "assets list":
		al := &o.al
		fs.StringVar(&al.kind, "kind", "", "host, software or service")
		fs.StringVar(&al.owner, "owner", "", "only assets of this owner")
		fs.BoolVar(&al.unowned, "unowned", false, "only assets without an active owner (unowned or orphaned)")
		fs.BoolVar(&al.orphaned, "orphaned", false, "only assets whose owner is retired")
		fs.BoolVar(&al.new, "new", false, "only software newly installed on enrolled hosts and first seen within --window")
		fs.StringVar(&al.window, "window", "7d", "the window of --new (7d, 36h)")
		fs.BoolVar(&o.jsonOut, "json", false, "print the assets as JSON")
	case "export":
		fs.StringVar(&o.ex.kind, "kind", "", "hosts or software")
		fs.StringVar(&o.ex.format, "format", "csv", "csv or json")
		fs.StringVar(&o.ex.out, "o", "", "write to this file rather than standard output")
	}
	return o
}

// check validates the arguments and flags of cmd.
func (o *command) check(cmd string, pos []string) error {
	wantArgs := 0
	if cmd == "why" {
		wantArgs = 1
	}
	if len(pos) != wantArgs {
		return fmt.Errorf("want %d argument(s), got %q", wantArgs, pos)
	}
	if cmd == "owners apply" && o.file == "" {
		return errors.New("-f FILE is required")
	}
	if err := o.al.check(cmd); err != nil {
		return err
	}
	return o.ex.check(cmd)
}

// run carries cmd out.
func (o *command) run(c *Client, cmd string, pos []string, stdout io.Writer) error {
	switch cmd {
	case "owners apply":
		return c.apply(stdout, o.file, o.dryRun, o.jsonOut)
	case "owners get":
		return c.get(stdout, "/api/v1/owners")
	case "why":
		return c.why(stdout, pos[0], o.jsonOut)
	case "coverage":
		return c.coverage(stdout, o.jsonOut)
	case "assets list":
		return c.assets(stdout, o.al, o.jsonOut)
	case "export":
		return c.export(stdout, o.ex)
	}
	return fmt.Errorf("unknown command %q", cmd)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// NewClient returns a client of the collector at server, with the admin token read from
// tokenFile and, for HTTPS, the collector's CA from caFile (the system's roots when empty).
func NewClient(server, tokenFile, caFile string, timeout time.Duration) (*Client, error) {
	return NewClientCert(server, tokenFile, caFile, "", "", timeout)
}

// clientFlags are the flags every command has to reach a collector.
type clientFlags struct {
	server, tokenFile, caFile, certFile, keyFile string
	timeout                                      time.Duration
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	f := &clientFlags{}
	fs.StringVar(&f.server, "server", envOr("ONUS_SERVER", "https://127.0.0.1:8443"), "URL of the collector ($ONUS_SERVER)")
	fs.StringVar(&f.tokenFile, "token-file", os.Getenv("ONUS_TOKEN_FILE"), "file holding the admin token ($ONUS_TOKEN_FILE)")
	fs.StringVar(&f.caFile, "ca-file", "", "CA certificates (PEM) trusted for the collector's TLS certificate, besides the system's")
	fs.StringVar(&f.certFile, "cert-file", os.Getenv("ONUS_CERT_FILE"), "client certificate (PEM), for a collector that requires one ($ONUS_CERT_FILE)")
	fs.StringVar(&f.keyFile, "key-file", os.Getenv("ONUS_KEY_FILE"), "key (PEM) of --cert-file ($ONUS_KEY_FILE)")
	fs.DurationVar(&f.timeout, "timeout", 2*time.Minute, "request timeout")
	return f
}

func (f *clientFlags) client() (*Client, error) {
	return NewClientCert(f.server, f.tokenFile, f.caFile, f.certFile, f.keyFile, f.timeout)
}

// NewClientCert is NewClient with a TLS client certificate, for a collector that asks for
// one (--tls-client-auth).
func NewClientCert(server, tokenFile, caFile, certFile, keyFile string, timeout time.Duration) (*Client, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: want http(s)://host:port", server)
	}
	if tokenFile == "" {
		return nil, errors.New("--token-file is required")
	}
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("--token-file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return nil, fmt.Errorf("--token-file: %s is empty", tokenFile)
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("--cert-file and --key-file go together")
	}
	tr, err := pki.ClientTransport(caFile, certFile, keyFile, nil)
	if err != nil {
		return nil, fmt.Errorf("--ca-file, --cert-file: %w", err)
	}
	return &Client{Server: strings.TrimSuffix(server, "/"), Token: token, HTTP: &http.Client{Transport: tr, Timeout: timeout}}, nil
}

// Do sends a request to the API and returns the body of a 2xx answer; other answers become
// errors with the API's messages.
func (c *Client) Do(method, path, ctype, accept string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(method, c.Server+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, apiError(req, resp)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 256<<20))
}

// apiError turns a non-2xx answer into an error with the API's message, or each of its
// messages (a registry with several errors).
func apiError(req *http.Request, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct {
		Error  string   `json:"error"`
		Errors []string `json:"errors"`
	}
	switch {
	case json.Unmarshal(b, &e) != nil || e.Error == "":
		return fmt.Errorf("%s %s: %s", req.Method, req.URL.Path, resp.Status)
	case len(e.Errors) > 0:
		return fmt.Errorf("%s:\n  %s", resp.Status, strings.Join(e.Errors, "\n  "))
	}
	return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(e.Error))
}

func (c *Client) get(w io.Writer, path string) error {
	b, err := c.Do("GET", path, "", "application/json", nil)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		_, err = w.Write(b)
		return err
	}
	_, err = out.WriteTo(w)
	return err
}

func (c *Client) apply(w io.Writer, file string, dryRun, jsonOut bool) error {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(io.LimitReader(os.Stdin, owners.MaxSize+1))
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return err
	}
	q := url.Values{"file": {filepath.Base(file)}}
	if file == "-" {
		q.Set("file", "stdin")
	}
	if dryRun {
		q.Set("dry_run", "true")
	}
	accept := "text/plain"
	if jsonOut {
		accept = "application/json"
	}
	b, err := c.Do("POST", "/api/v1/ownership/apply?"+q.Encode(), "application/yaml", accept, data)
	if err != nil {
		return err
	}
	if dryRun && !jsonOut {
		fmt.Fprintln(w, "dry run: nothing written")
		fmt.Fprintln(w)
	}
	_, err = w.Write(b)
	return err
}

func (c *Client) why(w io.Writer, asset string, jsonOut bool) error {
	b, err := c.Do("GET", "/api/v1/why?asset="+url.QueryEscape(asset), "", "application/json", nil)
	if err != nil {
		return err
	}
	if jsonOut {
		_, err = w.Write(b)
		return err
	}
	var res struct {
		Asset string `json:"asset"`
		owners.Resolution
		Department  string        `json:"department"`
		OwnerInfo   *owners.Owner `json:"owner_info"`
		Suggestions []struct {
			Owner    string   `json:"owner"`
			Evidence []string `json:"evidence"`
			Hosts    int      `json:"hosts"`
		} `json:"suggestions"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "asset:\t%s\n", res.Asset)
	owner := res.Owner
	switch {
	case owner == "":
		owner = "(none)"
	case res.Orphaned:
		owner += " (retired: orphaned)"
	}
	fmt.Fprintf(tw, "owner:\t%s\n", owner)
	if res.Department != "" {
		fmt.Fprintf(tw, "department:\t%s\n", res.Department)
	}
	fmt.Fprintf(tw, "decided by:\t%s", res.Provenance.Type)
	if res.Provenance.RuleID != "" {
		fmt.Fprintf(tw, " %s", res.Provenance.RuleID)
	}
	fmt.Fprintf(tw, "\nwhy:\t%s\n", res.Provenance.Detail)
	if o := res.OwnerInfo; o != nil {
		if o.Contact.Email != "" || o.Contact.Chat != "" {
			fmt.Fprintf(tw, "contact:\t%s\n", strings.Trim(o.Contact.Email+" "+o.Contact.Chat, " "))
		}
		if len(o.Escalation) > 0 {
			fmt.Fprintf(tw, "escalation:\t%s\n", strings.Join(o.Escalation, " → "))
		}
	}
	for _, s := range res.Suggestions {
		fmt.Fprintf(tw, "suggested owner:\t%s (%d hosts; not applied)\n", s.Owner, s.Hosts)
		for _, e := range s.Evidence {
			fmt.Fprintf(tw, "\t  %s\n", e)
		}
	}
	return tw.Flush()
}

func (c *Client) coverage(w io.Writer, jsonOut bool) error {
	b, err := c.Do("GET", "/api/v1/coverage", "", "application/json", nil)
	if err != nil {
		return err
	}
	if jsonOut {
		_, err = w.Write(b)
		return err
	}
	var res struct {
		RegistryRevision int64             `json:"registry_revision"`
		Coverage         []owners.Coverage `json:"coverage"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "kind\ttotal\towned\tunowned\torphaned\tcoverage\t\n")
	for _, c := range res.Coverage {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.1f%%\t\n", c.Kind, c.Total, c.Owned, c.Unowned, c.Orphaned, 100*c.Ratio)
	}
	return tw.Flush()
}

// parseInterspersed parses flags that may come before, between or after the positional
// arguments, and returns those arguments; false on a flag error (already printed).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, bool) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, false
		}
		if fs.NArg() == 0 {
			return pos, true
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
