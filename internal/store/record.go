package store

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// maxRecordBytes bounds a decoded record; etcd's request limit keeps stored values far
// smaller, so anything bigger is corrupt.
const maxRecordBytes = 256 << 20

// Agent is an enrolled agent.
type Agent struct {
	HostID string `json:"host_id"`
	// CredentialSHA256 is the hex SHA-256 of the credential: credentials are 256-bit random
	// tokens, so a plain hash is enough to make a leaked store useless for reporting.
	CredentialSHA256 string    `json:"credential_sha256"`
	EnrolledAt       time.Time `json:"enrolled_at"`
	Hostname         string    `json:"hostname,omitempty"`
	AgentVersion     string    `json:"agent_version,omitempty"`
}

// HashCredential returns the stored form of a credential.
func HashCredential(cred string) string {
	sum := sha256.Sum256([]byte(cred))
	return hex.EncodeToString(sum[:])
}

// Title is a software title of the fleet: (source, name), e.g. deb:nginx. The descriptive
// fields are those of the first installation the collector saw.
type Title struct {
	Source     string    `json:"source"`
	Name       string    `json:"name"`
	FirstSeen  time.Time `json:"first_seen"`
	FirstHost  string    `json:"first_host,omitempty"`
	Vendor     string    `json:"vendor,omitempty"`
	Maintainer string    `json:"maintainer,omitempty"`
	Section    string    `json:"section,omitempty"`
	Origin     string    `json:"origin,omitempty"`
	License    string    `json:"license,omitempty"`
	Summary    string    `json:"summary,omitempty"`
}

// TitleName returns the key name of a title: "<source>/<name>".
func TitleName(source, name string) string { return source + "/" + name }

// Installation is a package installed on a host, without the descriptive fields the title
// catalog holds.
type Installation struct {
	Source      string    `json:"source"`
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Arch        string    `json:"arch,omitempty"`
	InstallTime time.Time `json:"install_time,omitzero"`
	State       string    `json:"state,omitempty"`
	// Installed is set when the title appeared after the host's first report (it was
	// installed while Onus watched); otherwise it was discovered. InstalledAt is when.
	Installed   bool      `json:"installed,omitempty"`
	InstalledAt time.Time `json:"installed_at,omitzero"`
}

// Title returns "source:name".
func (i Installation) Title() string { return i.Source + ":" + i.Name }

// HostRecord is the stored inventory of one host.
type HostRecord struct {
	HostID string
	// Hash and Seq are those of the last accepted report that changed the inventory.
	Hash string
	Seq  uint64
	// FirstReport is when the host's first report arrived; UpdatedAt when its inventory last
	// changed.
	FirstReport time.Time
	UpdatedAt   time.Time
	Host        model.Host
	Software    []Installation
	Services    []model.Service
	Listeners   []model.Listener
	Sources     []model.SourceStatus
	// Events are the host's most recent software changes, oldest first; EventsDropped
	// counts the ones agents or the collector had to drop.
	Events        []protocol.Event
	EventsDropped int
}

// MaxHostEvents is how many recent events a host record keeps.
const MaxHostEvents = 100

// State rebuilds the protocol state whose hash the record holds.
func (r *HostRecord) State() protocol.State {
	st := protocol.State{Host: r.Host, Services: r.Services, Listeners: r.Listeners, Sources: r.Sources}
	st.Software = make([]model.Package, len(r.Software))
	for i, in := range r.Software {
		st.Software[i] = model.Package{Source: in.Source, Name: in.Name, Version: in.Version, Arch: in.Arch, InstallTime: in.InstallTime, State: in.State}
	}
	return st
}

// columns is the encoded form of a host record: packages column by column, which
// compresses to about a third of a list of objects.
type columns struct {
	V             int                  `json:"v"`
	HostID        string               `json:"id"`
	Hash          string               `json:"hash"`
	Seq           uint64               `json:"seq"`
	FirstReport   int64                `json:"first"`
	UpdatedAt     int64                `json:"updated"`
	Host          model.Host           `json:"host"`
	Sources       []string             `json:"src,omitempty"`  // distinct package sources
	SourceIdx     []int                `json:"srci,omitempty"` // per package
	Names         string               `json:"names,omitempty"`
	Versions      string               `json:"vers,omitempty"`
	Arches        []string             `json:"arch,omitempty"`
	ArchIdx       []int                `json:"archi,omitempty"`
	Times         []int64              `json:"times,omitempty"` // install times: 2×(Unix seconds − previous)+1; 0 = none
	States        map[int]string       `json:"states,omitempty"`
	Installed     map[int]int64        `json:"inst,omitempty"` // index → installed at (Unix seconds)
	Services      []model.Service      `json:"services,omitempty"`
	Listeners     []model.Listener     `json:"listeners,omitempty"`
	SourceStatus  []model.SourceStatus `json:"sources,omitempty"`
	Events        []protocol.Event     `json:"events,omitempty"`
	EventsDropped int                  `json:"events_dropped,omitempty"`
}

// EncodeHost returns the stored form of a host record: columnar JSON, gzip-compressed.
func EncodeHost(r *HostRecord) ([]byte, error) {
	c := columns{V: 1, HostID: r.HostID, Hash: r.Hash, Seq: r.Seq, FirstReport: unix(r.FirstReport), UpdatedAt: unix(r.UpdatedAt),
		Host: r.Host, Services: r.Services, Listeners: r.Listeners, SourceStatus: r.Sources,
		Events: r.Events, EventsDropped: r.EventsDropped}
	srcs, arches := map[string]int{}, map[string]int{}
	var names, vers strings.Builder
	var prev int64
	for i, in := range r.Software {
		if strings.ContainsRune(in.Name, '\n') || strings.ContainsRune(in.Version, '\n') {
			return nil, fmt.Errorf("store: package %q has a line break", in.Name)
		}
		c.SourceIdx = append(c.SourceIdx, index(srcs, &c.Sources, in.Source))
		c.ArchIdx = append(c.ArchIdx, index(arches, &c.Arches, in.Arch))
		names.WriteString(in.Name)
		names.WriteByte('\n')
		vers.WriteString(in.Version)
		vers.WriteByte('\n')
		t := unix(in.InstallTime)
		if t == 0 {
			c.Times = append(c.Times, 0)
		} else {
			// Odd values carry a delta (equal times give 1), zero means no install time.
			c.Times = append(c.Times, (t-prev)*2+1)
			prev = t
		}
		if in.State != "" {
			if c.States == nil {
				c.States = map[int]string{}
			}
			c.States[i] = in.State
		}
		if in.Installed {
			if c.Installed == nil {
				c.Installed = map[int]int64{}
			}
			c.Installed[i] = unix(in.InstalledAt)
		}
	}
	c.Names, c.Versions = names.String(), vers.String()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&c); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodeHost parses a stored host record.
func DecodeHost(b []byte) (*HostRecord, error) {
	var c columns
	if err := decodeGzipJSON(b, &c); err != nil {
		return nil, fmt.Errorf("host record: %w", err)
	}
	if c.V != 1 {
		return nil, fmt.Errorf("host record: encoding version %d unknown", c.V)
	}
	r := &HostRecord{HostID: c.HostID, Hash: c.Hash, Seq: c.Seq, FirstReport: fromUnix(c.FirstReport), UpdatedAt: fromUnix(c.UpdatedAt),
		Host: c.Host, Services: c.Services, Listeners: c.Listeners, Sources: c.SourceStatus, Events: c.Events, EventsDropped: c.EventsDropped}
	names := splitLines(c.Names)
	vers := splitLines(c.Versions)
	n := len(names)
	if len(vers) != n || len(c.SourceIdx) != n || len(c.ArchIdx) != n || len(c.Times) != n {
		return nil, fmt.Errorf("host record %s: package columns of different lengths", c.HostID)
	}
	r.Software = make([]Installation, n)
	var prev int64
	for i := range n {
		si, ai := c.SourceIdx[i], c.ArchIdx[i]
		if si < 0 || si >= len(c.Sources) || ai < 0 || ai >= len(c.Arches) {
			return nil, fmt.Errorf("host record %s: package %d: index out of range", c.HostID, i)
		}
		in := Installation{Source: c.Sources[si], Name: names[i], Version: vers[i], Arch: c.Arches[ai], State: c.States[i]}
		if d := c.Times[i]; d != 0 {
			prev += (d - 1) / 2
			in.InstallTime = fromUnix(prev)
		}
		if at, ok := c.Installed[i]; ok {
			in.Installed, in.InstalledAt = true, fromUnix(at)
		}
		r.Software[i] = in
	}
	return r, nil
}

// HostStatus is the volatile part of a host: when it last reported and its capacity use.
type HostStatus struct {
	LastSeen time.Time         `json:"seen"`
	Seq      uint64            `json:"seq,omitempty"`
	Capacity protocol.Capacity `json:"cap"`
}

// StatusShards is the number of status keys hosts are spread over.
const StatusShards = 256

// StatusShard returns the name of the status shard of a host.
func StatusShard(hostID string) string {
	sum := sha256.Sum256([]byte(hostID))
	return hex.EncodeToString(sum[:1])
}

// EncodeStatus returns the stored form of a status shard.
func EncodeStatus(m map[string]HostStatus) ([]byte, error) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err := json.NewEncoder(zw).Encode(m); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodeStatus parses a stored status shard.
func DecodeStatus(b []byte) (map[string]HostStatus, error) {
	m := map[string]HostStatus{}
	if err := decodeGzipJSON(b, &m); err != nil {
		return nil, fmt.Errorf("status shard: %w", err)
	}
	return m, nil
}

func decodeGzipJSON(b []byte, v any) error {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer zr.Close()
	data, err := io.ReadAll(io.LimitReader(zr, maxRecordBytes+1))
	if err != nil {
		return err
	}
	if len(data) > maxRecordBytes {
		return fmt.Errorf("over %d bytes decoded", maxRecordBytes)
	}
	return json.Unmarshal(data, v)
}

func index(m map[string]int, list *[]string, s string) int {
	if i, ok := m[s]; ok {
		return i
	}
	m[s] = len(*list)
	*list = append(*list, s)
	return m[s]
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}
