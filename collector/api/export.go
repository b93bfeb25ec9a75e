package api

import (
	"encoding/csv"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/onus-project/onus/collector/index"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/protocol"
)

// HostExport is one host of the audit export: the fields CIS Controls v8 safeguard 1.1
// (inventory of enterprise assets) asks for.
type HostExport struct {
	HostID     string    `json:"host_id"`
	Hostname   string    `json:"hostname"`
	FQDN       string    `json:"fqdn"`
	OS         string    `json:"os"`
	IPs        []string  `json:"ip_addresses"`
	MACs       []string  `json:"mac_addresses"`
	Owner      string    `json:"owner"`
	Department string    `json:"department"`
	Orphaned   bool      `json:"orphaned"`
	LastSeen   time.Time `json:"last_seen,omitzero"`
}

// SoftwareExport is one software title of the audit export: the fields CIS Controls v8
// safeguard 2.1 (inventory of software) asks for. Authorized means owned by an active owner.
type SoftwareExport struct {
	Title      string    `json:"title"`
	Source     string    `json:"source"`
	Name       string    `json:"name"`
	Vendor     string    `json:"vendor"`
	Maintainer string    `json:"maintainer"`
	FirstSeen  time.Time `json:"first_seen,omitzero"`
	Hosts      int       `json:"hosts"`
	Owner      string    `json:"owner"`
	Department string    `json:"department"`
	Orphaned   bool      `json:"orphaned"`
	Authorized bool      `json:"authorized"`
}

// Export column headers, in the order of the CSV columns.
var (
	HostExportHeader     = []string{"host_id", "hostname", "fqdn", "os", "ip_addresses", "mac_addresses", "owner", "department", "orphaned", "last_seen"}
	SoftwareExportHeader = []string{"title", "source", "name", "vendor", "maintainer", "first_seen", "hosts", "owner", "department", "orphaned", "authorized"}
)

func (a *API) export(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	kind, format := q.Get("kind"), q.Get("format")
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "json" {
		writeError(w, protocol.Errorf(http.StatusBadRequest, "format: want csv or json"))
		return
	}
	res := a.opts.Index.Resolver()
	var header []string
	var rows [][]string
	var items any
	switch kind {
	case "hosts":
		hosts, err := a.exportHosts(res)
		if err != nil {
			writeError(w, err)
			return
		}
		header, items = HostExportHeader, hosts
		for _, h := range hosts {
			rows = append(rows, []string{h.HostID, h.Hostname, h.FQDN, h.OS, strings.Join(h.IPs, " "), strings.Join(h.MACs, " "),
				h.Owner, h.Department, yesNo(h.Orphaned), csvTime(h.LastSeen)})
		}
	case "software":
		titles := a.exportSoftware(res)
		header, items = SoftwareExportHeader, titles
		for _, t := range titles {
			rows = append(rows, []string{t.Title, t.Source, t.Name, t.Vendor, t.Maintainer, csvTime(t.FirstSeen), strconv.Itoa(t.Hosts),
				t.Owner, t.Department, yesNo(t.Orphaned), yesNo(t.Authorized)})
		}
	default:
		writeError(w, protocol.Errorf(http.StatusBadRequest, "kind: want hosts or software"))
		return
	}
	if format == "json" {
		writeJSON(w, http.StatusOK, items)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="onus-`+kind+`.csv"`)
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	_ = cw.Write(header)
	for _, row := range rows {
		for i := range row {
			row[i] = csvCell(row[i])
		}
	}
	_ = cw.WriteAll(rows) // flushes
}

// csvCell neutralises a cell a spreadsheet would take for a formula, as OWASP's advice on CSV
// injection has it: a cell that begins with '=', '+', '-', '@', a tab or a carriage return
// gets a leading single quote, which spreadsheets show as text. Host facts and package
// metadata are whatever a host or a package author wrote, and an audit export is opened in
// a spreadsheet by someone with more rights than either.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (a *API) exportHosts(res *owners.Resolver) ([]HostExport, error) {
	summaries, _ := a.opts.Index.Hosts("", int(^uint(0)>>1), nil)
	out := make([]HostExport, 0, len(summaries))
	for _, s := range summaries {
		e := HostExport{HostID: s.ID, Hostname: s.Hostname, FQDN: s.FQDN, OS: s.OS, Owner: s.Owner, Orphaned: s.Orphaned,
			IPs: []string{}, MACs: []string{}, LastSeen: s.UpdatedAt}
		if s.Owner != "" {
			e.Department = res.Department(s.Owner)
		}
		if s.Status != nil && s.Status.LastSeen.After(e.LastSeen) {
			e.LastSeen = s.Status.LastSeen
		}
		// Addresses live in the stored record only: an export is rare, the index stays small.
		if h, ok := a.opts.Index.Host(s.ID); ok {
			rec, err := a.opts.Index.DecodeHost(h.Raw, nil)
			if err != nil {
				return nil, err
			}
			for _, in := range rec.Host.Interfaces {
				if in.MAC != "" && in.MAC != "00:00:00:00:00:00" {
					e.MACs = append(e.MACs, in.MAC)
				}
				for _, cidr := range in.Addrs {
					ip, _, err := net.ParseCIDR(cidr)
					if err != nil {
						ip = net.ParseIP(cidr)
					}
					if ip == nil || ip.IsLoopback() {
						continue
					}
					e.IPs = append(e.IPs, ip.String())
				}
			}
			slices.Sort(e.MACs)
			e.MACs = slices.Compact(e.MACs)
		}
		out = append(out, e)
	}
	return out, nil
}

func (a *API) exportSoftware(res *owners.Resolver) []SoftwareExport {
	var out []SoftwareExport
	for _, t := range a.opts.Index.Titles() {
		if t.Hosts <= 0 {
			continue
		}
		out = append(out, softwareExport(&t, res))
	}
	slices.SortFunc(out, func(a, b SoftwareExport) int { return strings.Compare(a.Title, b.Title) })
	if out == nil {
		out = []SoftwareExport{}
	}
	return out
}

func softwareExport(t *index.TitleEntry, res *owners.Resolver) SoftwareExport {
	e := SoftwareExport{Title: t.Key(), Source: t.Source, Name: t.Name, Vendor: t.Vendor, Maintainer: t.Maintainer,
		FirstSeen: t.FirstSeen, Hosts: t.Hosts, Owner: t.Ownership.Owner, Orphaned: t.Ownership.Orphaned, Authorized: t.Ownership.Owned()}
	if e.Owner != "" {
		e.Department = res.Department(e.Owner)
	}
	return e
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
