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
	outDir := fs.String("out-dir", "./certs", "directory of the CA and the certificates")
	hosts := &listFlag{vals: defaultHosts}
	fs.Var(hosts, "host", "DNS name or IP address of the collector (repeatable, or comma-separated)")
	etcdHosts := &listFlag{vals: defaultHosts}
	fs.Var(etcdHosts, "etcd-host", "DNS name or IP address of the etcd servers, with --etcd (repeatable, or comma-separated)")
	clients := &listFlag{}
	fs.Var(clients, "client", "issue an agent client certificate with this name (repeatable)")
	withCollector := fs.Bool("collector-cert", true, "issue the collector's server certificate (false: only what other flags ask for)")
	withEtcd := fs.Bool("etcd", false, "issue an etcd server certificate and a client certificate for the collector")
	caName := fs.String("ca-name", "Onus private CA", "common name of a new CA")
	caValidity := 10 * 365 * 24 * time.Hour
	fs.Var(days{&caValidity}, "ca-validity", "validity of a new CA (e.g. 3650d)")
	validity := 365 * 24 * time.Hour
	fs.Var(days{&validity}, "validity", "validity of the certificates issued (e.g. 365d, 720h); never beyond the CA's")
	force := fs.Bool("force", false, "overwrite certificates and keys that exist (the CA is always reused)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "onus-collector certs: "+format+"\n", a...)
		return code
	}
	if fs.NArg() > 0 {
		return fail(2, "unexpected argument %q", fs.Arg(0))
	}
	for _, h := range append(append([]string{}, hosts.vals...), etcdHosts.vals...) {
		if err := pki.CheckHost(h); err != nil {
			return fail(2, "--host: %q is neither a DNS name nor an IP address", h)
		}
	}
	seen := map[string]bool{}
	for _, c := range clients.vals {
		if !clientName.MatchString(c) {
			return fail(2, "--client %q: use letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)", c)
		}
		if seen[c] {
			return fail(2, "--client %q given twice", c)
		}
		seen[c] = true
	}
	if !*withCollector && !*withEtcd && len(clients.vals) == 0 {
		return fail(2, "nothing to issue: --collector-cert=false without --client or --etcd")
	}

	now := time.Now()
	caCert, caKey := filepath.Join(*outDir, caBase+".pem"), filepath.Join(*outDir, caBase+"-key.pem")
	var ca *pki.CA
	var written []pki.File
	var notes []string
	switch haveCert, haveKey := exists(caCert), exists(caKey); {
	case haveCert && haveKey:
		var err error
		if ca, err = pki.LoadCA(caCert, caKey); err != nil {
			return fail(1, "%v", err)
		}
		notes = append(notes, fmt.Sprintf("using the CA in %s (%q, valid until %s)", caCert, ca.Cert.Subject.CommonName, day(ca.Cert.NotAfter)))
	case haveCert || haveKey:
		return fail(1, "%s and %s go together: one of them is missing", caCert, caKey)
	default:
		c, pair, err := pki.NewCA(*caName, caValidity, now)
		if err != nil {
			return fail(1, "%v", err)
		}
		ca = c
		written = append(written, pair.Files(caBase)...)
	}

	type issue struct {
		base string
		req  pki.Request
		what string
	}
	var todo []issue
	if *withCollector {
		todo = append(todo, issue{collectorBase, pki.Request{CommonName: hosts.vals[0], Hosts: hosts.vals, Usage: pki.ServerAuth},
			"collector server certificate for " + strings.Join(hosts.vals, ", ")})
	}
	for _, c := range clients.vals {
		todo = append(todo, issue{agentPrefix + c, pki.Request{CommonName: c, Usage: pki.ClientAuth}, "agent client certificate " + c})
	}
	if *withEtcd {
		// etcd members also dial each other with their server certificate.
		todo = append(todo,
			issue{etcdServerBase, pki.Request{CommonName: etcdHosts.vals[0], Hosts: etcdHosts.vals, Usage: pki.ServerAuth | pki.ClientAuth},
				"etcd server certificate for " + strings.Join(etcdHosts.vals, ", ")},
			issue{etcdClientBase, pki.Request{CommonName: "onus-collector", Usage: pki.ClientAuth}, "etcd client certificate of the collector"})
	}
	what := map[string]string{caBase + ".pem": fmt.Sprintf("CA %q", *caName), caBase + "-key.pem": "CA key: keep it off the servers"}
	for _, it := range todo {
		it.req.Validity = validity
		pair, err := ca.Issue(it.req, now)
		if err != nil {
			return fail(1, "%v", err)
		}
		if now.Add(validity).After(ca.Cert.NotAfter) {
			notes = append(notes, fmt.Sprintf("%s.pem ends with the CA on %s", it.base, day(pair.Cert.NotAfter)))
		}
		files := pair.Files(it.base)
		what[files[0].Name] = it.what
		what[files[1].Name] = "its key"
		written = append(written, files...)
	}
	if err := pki.WriteFiles(*outDir, written, *force); err != nil {
		return fail(1, "%v", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, f := range written {
		p := filepath.Join(*outDir, f.Name)
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

func exists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, fs.ErrNotExist)
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }
