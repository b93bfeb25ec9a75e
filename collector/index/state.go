package index

import (
	"time"

	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/store"
)

// state is the fleet as the index holds it, built from the store's keys alone.
type state struct {
	agents   map[string]AgentEntry
	hosts    map[string]*HostEntry
	titles   map[string]*TitleEntry // by "source:name"
	services map[string]*ServiceEntry
	status   map[string]statusShard // by shard name
	builds   map[uint32]store.Build
	buildIDs map[store.BuildRef]uint32
	names    []string // interned title and service names, by number
	nameIDs  map[string]uint32
	svcAttrs map[uint32]owners.ServiceAttrs // parsed service titles, by name number
	// installers holds, per title number, the hosts where the title was installed after
	// their first report (the hosts TitleEntry.Installed counts).
	installers map[uint32]map[string]struct{}
	// facts is what the rules on installations need (see installs.go), nil while the
	// registry has none.
	facts *installFacts

	// Ownership: the registry in the store, its key's revision, and the resolver every
	// asset's owner is resolved with.
	registry *owners.Registry
	regRev   int64
	resolver *owners.Resolver
}

// AgentEntry is an enrolled agent with the revision of its key.
type AgentEntry struct {
	store.Agent
	ModRevision int64
}

// HostEntry is one host: its stored record, undecoded, and what the lists need.
type HostEntry struct {
	ModRevision int64
	Raw         []byte
	Summary     Summary
	// Interned names (see Index.intern), sorted and distinct: 4 bytes each, so 100,000
	// hosts of 1,000 packages take 400 MB rather than the 2 GB of string headers.
	titles    []uint32 // "source:name"
	installed []uint32 // titles installed after the host's first report
	services  []uint32 // "systemd:<unit>", "port:<proto>/<port>"
	own       ownership
	facts     []instFact // while the index keeps facts
	// What the fleet metrics need from the record: the OS family and the filesystems'
	// sizes (their use is volatile and comes with the host's status).
	osFamily    string
	filesystems []fsSize
}

// fsSize is the size of one filesystem of a host.
type fsSize struct {
	mountpoint string
	total      uint64
}

// Summary is what host lists show.
type Summary struct {
	ID          string            `json:"id"`
	Hostname    string            `json:"hostname"`
	FQDN        string            `json:"fqdn,omitempty"`
	OS          string            `json:"os,omitempty"`
	OSID        string            `json:"os_id,omitempty"`
	Arch        string            `json:"arch,omitempty"`
	VM          string            `json:"vm,omitempty"`
	Container   string            `json:"container,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	CPUThreads  int               `json:"cpu_threads"`
	MemoryBytes uint64            `json:"memory_bytes"`
	DiskBytes   uint64            `json:"disk_bytes"`
	Software    int               `json:"software"`
	Services    int               `json:"services"`
	Listeners   int               `json:"listeners"`
	Hash        string            `json:"hash"`
	Seq         uint64            `json:"seq"`
	FirstReport time.Time         `json:"first_report"`
	UpdatedAt   time.Time         `json:"updated_at"`
	SourceError []string          `json:"source_errors,omitempty"`
}

// TitleEntry is a software title with its fleet-wide counts.
type TitleEntry struct {
	store.Title
	// Catalogued is set once the title's catalog key has been seen.
	Catalogued bool
	Hosts      int // hosts that have it
	Installed  int // hosts where it was installed after their first report
	// Ownership is the title's owner, fleet-wide.
	Ownership owners.Resolution
}

// ServiceEntry is a service title (a systemd unit or a listening port) with its host count.
type ServiceEntry struct {
	Title string `json:"title"`
	Kind  string `json:"kind"` // systemd, port
	Name  string `json:"name"`
	Hosts int    `json:"hosts"`
}

type statusShard struct {
	modRev int64
	raw    []byte // as stored: the starting point of the next write of the shard
	hosts  map[string]store.HostStatus
}

func (ix *Index) reset() {
	ix.state = state{
		agents:     map[string]AgentEntry{},
		hosts:      map[string]*HostEntry{},
		titles:     map[string]*TitleEntry{},
		services:   map[string]*ServiceEntry{},
		status:     map[string]statusShard{},
		builds:     map[uint32]store.Build{},
		buildIDs:   map[store.BuildRef]uint32{},
		nameIDs:    map[string]uint32{},
		svcAttrs:   map[uint32]owners.ServiceAttrs{},
		installers: map[uint32]map[string]struct{}{},
		registry:   &owners.Registry{},
		resolver:   emptyResolver(),
	}
}

// intern returns the number of a title or service name; the caller holds the write lock.
func (ix *Index) intern(s string) uint32 {
	if id, ok := ix.nameIDs[s]; ok {
		return id
	}
	id := uint32(len(ix.names))
	ix.names = append(ix.names, s)
	ix.nameIDs[s] = id
	return id
}
