package index

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/store"
)

// Suggestion is an owner that what the hosts record points at, for an asset no assignment or
// rule gives an owner: the accounts that installed a software title or own its files, or that
// a service runs as, are among the owner's users (owners.Owner.Users). It is shown, never
// applied: making it the owner is an assignment or a rule in owners.yaml.
type Suggestion struct {
	Owner string `json:"owner"`
	// Evidence says, per host, what points at the owner: "web-01: installed by alice
	// (apt-history): apt-get install jq". At most MaxEvidence lines; Hosts counts them all.
	Evidence []string `json:"evidence"`
	Hosts    int      `json:"hosts"`
}

// MaxSuggestHosts bounds the hosts whose records Suggest reads for one asset, and
// MaxEvidence the evidence lines one suggestion carries.
const (
	MaxSuggestHosts = 500
	MaxEvidence     = 10
)

// clue is one account a host's record ties to an asset, with what says so.
type clue struct {
	account, evidence string
}

// Suggest returns the owners suggested for an unowned asset, "software:<source>:<name>" or
// "service:<host id>/<service title>", most hosts first; nil when nothing points at an owner.
// It reads the records of at most MaxSuggestHosts hosts (in host ID order), outside the
// index's lock.
func (ix *Index) Suggest(asset string) ([]Suggestion, error) {
	kind, key, _ := strings.Cut(asset, ":")
	type candidate struct {
		id, name string
		raw      []byte
	}
	var cands []candidate
	var match func(rec *store.HostRecord) []clue
	ix.mu.RLock()
	res := ix.resolver
	switch owners.Kind(kind) {
	case owners.KindSoftware:
		if id, ok := ix.nameIDs[key]; ok {
			for hid, h := range ix.hosts {
				if containsSorted(h.titles, id) {
					cands = append(cands, candidate{hid, h.Summary.Hostname, h.Raw})
				}
			}
		}
		match = func(rec *store.HostRecord) []clue { return softwareClues(rec, key) }
	case owners.KindService:
		hostID, title, _ := strings.Cut(key, "/")
		sa, err := owners.ParseServiceKey(title)
		if err != nil {
			ix.mu.RUnlock()
			return nil, fmt.Errorf("%w: %v", ErrBadAsset, err)
		}
		if h, ok := ix.hosts[hostID]; ok {
			cands = append(cands, candidate{hostID, h.Summary.Hostname, h.Raw})
		}
		match = func(rec *store.HostRecord) []clue { return serviceClues(rec, sa) }
	default:
		ix.mu.RUnlock()
		return nil, fmt.Errorf("%w %q: suggestions are for software and services", ErrBadAsset, asset)
	}
	ix.mu.RUnlock()
	if res == nil {
		return nil, nil
	}
	slices.SortFunc(cands, func(a, b candidate) int { return cmp.Compare(a.id, b.id) })
	cands = cands[:min(len(cands), MaxSuggestHosts)]
	byOwner := map[string]*Suggestion{}
	var order []string
	for _, c := range cands {
		rec, err := ix.DecodeHostUnordered(c.raw, nil)
		if err != nil {
			continue // a record the watch has not brought all builds of yet
		}
		seen := map[string]bool{} // owners this host already counts for
		for _, cl := range match(rec) {
			for _, o := range res.OwnersOfUser(cl.account) {
				s := byOwner[o]
				if s == nil {
					s = &Suggestion{Owner: o}
					byOwner[o] = s
					order = append(order, o)
				}
				if !seen[o] {
					seen[o] = true
					s.Hosts++
				}
				if len(s.Evidence) < MaxEvidence {
					s.Evidence = append(s.Evidence, cmp.Or(c.name, c.id)+": "+cl.evidence)
				}
			}
		}
	}
	out := make([]Suggestion, 0, len(order))
	for _, o := range order {
		out = append(out, *byOwner[o])
	}
	slices.SortStableFunc(out, func(a, b Suggestion) int { return cmp.Compare(b.Hosts, a.Hosts) })
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// softwareClues returns the accounts a host's installations of a title name: who installed
// them, and whose they are (a per-user installation, a file's owner).
func softwareClues(rec *store.HostRecord, title string) []clue {
	var out []clue
	for i := range rec.Software {
		in := &rec.Software[i]
		if in.Title() != title {
			continue
		}
		if by := in.InstalledBy; by != "" {
			e := "installed by " + by
			if in.Evidence != "" {
				e += " (" + in.Evidence + ")"
			}
			if in.InstallCommand != "" {
				e += ": " + in.InstallCommand
			}
			out = append(out, clue{by, e})
		}
		if u := in.User; u != "" && u != in.InstalledBy {
			e := "belongs to " + u
			if in.Location != "" {
				e += " (" + in.Location + ")"
			}
			out = append(out, clue{u, e})
		}
	}
	return out
}

// containerOwnerLabels are the container labels whose values name who runs a container.
var containerOwnerLabels = []struct{ key, what string }{
	{"com.docker.compose.project", "compose project"},
	{"io.kubernetes.pod.namespace", "Kubernetes namespace"},
}

// serviceClues returns the accounts a host's service (or, for a listening port, the units
// listening on it) runs as, and the compose project or Kubernetes namespace of a container.
func serviceClues(rec *store.HostRecord, sa owners.ServiceAttrs) []clue {
	units := map[string]bool{}
	if sa.IsPort() {
		for _, l := range rec.Listeners {
			if owners.PortService(l.Protocol, l.Port) == sa && l.Unit != "" {
				units[l.Unit] = true
			}
		}
	}
	var out []clue
	for i := range rec.Services {
		s := &rec.Services[i]
		if sa.IsPort() {
			if s.Manager != "systemd" || !units[s.Name] {
				continue
			}
		} else if s.Manager != sa.Manager || s.Name != sa.Name {
			continue
		}
		out = append(out, accountClues(s)...)
	}
	return out
}

func accountClues(s *model.Service) []clue {
	var out []clue
	if s.User != "" {
		out = append(out, clue{s.User, s.Manager + ":" + s.Name + " runs as " + s.User})
	}
	for _, l := range containerOwnerLabels {
		if v := s.Labels[l.key]; v != "" {
			out = append(out, clue{v, s.Manager + ":" + s.Name + " is in " + l.what + " " + v})
		}
	}
	return out
}
