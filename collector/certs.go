package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/onus-project/onus/internal/pki"
)

// The file names of the certs command, in --out-dir.
const (
	caBase         = "ca"
	collectorBase  = "collector"
	etcdServerBase = "etcd-server"
	etcdClientBase = "etcd-client"
	agentPrefix    = "agent-"
)

var defaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// listFlag is a repeatable flag that also takes comma-separated values.
type listFlag struct {
	vals []string
	set  bool
}

func (l *listFlag) String() string { return strings.Join(l.vals, ",") }

func (l *listFlag) Set(v string) error {
	if !l.set {
		l.vals, l.set = nil, true
	}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			l.vals = append(l.vals, s)
		}
	}
	return nil
}

var clientName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// certs is "onus-collector certs": it makes (or reuses) a private CA in --out-dir and issues
// the collector's server certificate, agents' client certificates and an etcd pair.
func certs(args []string, stdout, stderr io.Writer) int {
	o, code, ok := parseCerts(args, stderr)
	if !ok {
		return code
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "onus-collector certs: %v\n", err)
		return code
	}
	if err := o.check(); err != nil {
		return fail(2, err)
	}
	now := time.Now()
	ca, written, notes, err := o.loadOrMakeCA(now)
	if err != nil {
		return fail(1, err)
	}
	issued, what, more, err := o.issue(ca, now)
	if err != nil {
		return fail(1, err)
	}
	written, notes = append(written, issued...), append(notes, more...)
	if err := pki.WriteFiles(o.outDir, written, o.force); err != nil {
		return fail(1, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, f := range written {
		p := filepath.Join(o.outDir, f.Name)
		until := ""
		if strings.HasSuffix(f.Name, "-key.pem") {
			until = "mode " + fmt.Sprintf("%04o", f.Mode)
		} else if c, err := pki.ParseCert(f.Data); err == nil {
			until = "valid until " + day(c.NotAfter)
		}
		fmt.Fprintf(tw, "wrote %s\t%s\t%s\n", p, what[f.Name], until)
	}
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintln(stdout, n)
	}
	return 0
}

// certsOptions are the flags of onus-collector certs.
type certsOptions struct {
	outDir                  string
	hosts, etcdHosts        []string
	clients                 []string
	withCollector, withEtcd bool
	caName                  string
	caValidity, validity    time.Duration
	force                   bool
}

// parseCerts parses the flags of onus-collector certs; when !ok the command ends with code.
func parseCerts(args []string, stderr io.Writer) (o certsOptions, code int, ok bool) {
	fs := flag.NewFlagSet("certs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: onus-collector certs [flags]

Makes a private CA (ECDSA P-256) in --out-dir, or reuses the one there (ca.pem, ca-key.pem),
and issues with it:
  collector.pem, collector-key.pem        the collector's server certificate (--host names)
  agent-NAME.pem, agent-NAME-key.pem      a client certificate per --client NAME
  etcd-server.pem, etcd-server-key.pem    with --etcd: etcd's server certificate (--etcd-host names)
  etcd-client.pem, etcd-client-key.pem    with --etcd: the collector's client certificate for etcd
Keys are written 0600, certificates 0644. Existing files are kept unless --force.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.outDir, "out-dir", "./certs", "directory of the CA and the certificates")
	hosts := &listFlag{vals: defaultHosts}
	fs.Var(hosts, "host", "DNS name or IP address of the collector (repeatable, or comma-separated)")
	etcdHosts := &listFlag{vals: defaultHosts}
	fs.Var(etcdHosts, "etcd-host", "DNS name or IP address of the etcd servers, with --etcd (repeatable, or comma-separated)")
	clients := &listFlag{}
	fs.Var(clients, "client", "issue an agent client certificate with this name (repeatable)")
	fs.BoolVar(&o.withCollector, "collector-cert", true, "issue the collector's server certificate (false: only what other flags ask for)")
	fs.BoolVar(&o.withEtcd, "etcd", false, "issue an etcd server certificate and a client certificate for the collector")
	fs.StringVar(&o.caName, "ca-name", "Onus private CA", "common name of a new CA")
	o.caValidity = 10 * 365 * 24 * time.Hour
	fs.Var(days{&o.caValidity}, "ca-validity", "validity of a new CA (e.g. 3650d)")
	o.validity = 365 * 24 * time.Hour
	fs.Var(days{&o.validity}, "validity", "validity of the certificates issued (e.g. 365d, 720h); never beyond the CA's")
	fs.BoolVar(&o.force, "force", false, "overwrite certificates and keys that exist (the CA is always reused)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, 0, false
		}
		return o, 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "onus-collector certs: unexpected argument %q\n", fs.Arg(0))
		return o, 2, false
	}
	o.hosts, o.etcdHosts, o.clients = hosts.vals, etcdHosts.vals, clients.vals
	return o, 0, true
}

// check refuses names no certificate can carry, and a run that issues nothing.
func (o *certsOptions) check() error {
	for _, h := range append(slices.Clone(o.hosts), o.etcdHosts...) {
		if err := pki.CheckHost(h); err != nil {
			return fmt.Errorf("--host: %q is neither a DNS name nor an IP address", h)
		}
	}
	seen := map[string]bool{}
	for _, c := range o.clients {
		if !clientName.MatchString(c) {
			return fmt.Errorf("--client %q: use letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)", c)
		}
		if seen[c] {
			return fmt.Errorf("--client %q given twice", c)
		}
		seen[c] = true
	}
	if !o.withCollector && !o.withEtcd && len(o.clients) == 0 {
		return errors.New("nothing to issue: --collector-cert=false without --client or --etcd")
	}
	return nil
}

// loadOrMakeCA reuses the CA in the output directory, or makes one (returned among the
// files to write).
func (o *certsOptions) loadOrMakeCA(now time.Time) (*pki.CA, []pki.File, []string, error) {
	caCert, caKey := filepath.Join(o.outDir, caBase+".pem"), filepath.Join(o.outDir, caBase+"-key.pem")
	switch haveCert, haveKey := exists(caCert), exists(caKey); {
	case haveCert && haveKey:
		ca, err := pki.LoadCA(caCert, caKey)
		if err != nil {
			return nil, nil, nil, err
		}
		note := fmt.Sprintf("using the CA in %s (%q, valid until %s)", caCert, ca.Cert.Subject.CommonName, day(ca.Cert.NotAfter))
		return ca, nil, []string{note}, nil
	case haveCert || haveKey:
		return nil, nil, nil, fmt.Errorf("%s and %s go together: one of them is missing", caCert, caKey)
	default:
		ca, pair, err := pki.NewCA(o.caName, o.caValidity, now)
		if err != nil {
			return nil, nil, nil, err
		}
		return ca, pair.Files(caBase), nil, nil
	}
}

// issue issues the certificates the flags ask for, and says what each file is.
func (o *certsOptions) issue(ca *pki.CA, now time.Time) ([]pki.File, map[string]string, []string, error) {
	type issue struct {
		base string
		req  pki.Request
		what string
	}
	var todo []issue
	if o.withCollector {
		todo = append(todo, issue{collectorBase, pki.Request{CommonName: o.hosts[0], Hosts: o.hosts, Usage: pki.ServerAuth},
			"collector server certificate for " + strings.Join(o.hosts, ", ")})
	}
	for _, c := range o.clients {
		todo = append(todo, issue{agentPrefix + c, pki.Request{CommonName: c, Usage: pki.ClientAuth}, "agent client certificate " + c})
	}
	if o.withEtcd {
		// etcd members also dial each other with their server certificate.
		todo = append(todo,
			issue{etcdServerBase, pki.Request{CommonName: o.etcdHosts[0], Hosts: o.etcdHosts, Usage: pki.ServerAuth | pki.ClientAuth},
				"etcd server certificate for " + strings.Join(o.etcdHosts, ", ")},
			issue{etcdClientBase, pki.Request{CommonName: "onus-collector", Usage: pki.ClientAuth}, "etcd client certificate of the collector"})
	}
	what := map[string]string{caBase + ".pem": fmt.Sprintf("CA %q", o.caName), caBase + "-key.pem": "CA key: keep it off the servers"}
	var written []pki.File
	var notes []string
	for _, it := range todo {
		it.req.Validity = o.validity
		pair, err := ca.Issue(it.req, now)
		if err != nil {
			return nil, nil, nil, err
		}
		if now.Add(o.validity).After(ca.Cert.NotAfter) {
			notes = append(notes, fmt.Sprintf("%s.pem ends with the CA on %s", it.base, day(pair.Cert.NotAfter)))
		}
		files := pair.Files(it.base)
		what[files[0].Name] = it.what
		what[files[1].Name] = "its key"
		written = append(written, files...)
	}
	return written, what, notes, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, fs.ErrNotExist)
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }
