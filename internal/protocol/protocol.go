// Package protocol is the wire protocol between onus-agent and onus-collector: enrollment,
// reports (full, delta, heartbeat), the canonical inventory state both sides hash, and the
// decoding, limits and validation the collector applies to every request body.
//
// An agent enrolls once with the fleet's enroll secret and receives a per-host credential.
// It then sends a full report, and after that only deltas against the hash of the last state
// the collector accepted; the collector answers need_full when its hash differs. Between
// changes the agent sends heartbeats that carry the volatile capacity figures (memory and
// disk use), which are not part of the hashed state, so that they never cause an inventory
// write.
//
// # Free text and structure
//
// Structure is checked strictly; free text never causes a refusal. Whatever a local user or
// a package can put in a string (process names, unit descriptions, package fields, mount
// points, error messages: the fields TextFields names) is cleaned with CleanText, which
// escapes control characters visibly, replaces invalid UTF-8 and cuts over-long values with
// a marker. The agent cleans where it reads and again in FromInventory, before the state is
// normalized and hashed, and checks every report with Validate before sending it. The
// collector cleans every report it receives with CleanReport, counting what it changed per
// field, and only then validates it. Validate refuses what breaks structure: identity,
// hashes, kinds, counts, sizes, enumerations, label keys, missing required values, and text
// that was not cleaned.
//
// A current agent's state is clean before it is hashed, so cleaning it again changes nothing
// and both sides hash the same bytes. An older or hostile agent may send text that had to be
// cleaned; its hash then covers bytes the collector no longer holds and cannot rebuild
// (invalid UTF-8 is gone once decoded). The collector stores the cleaned state anyway, under
// the hash the agent sent: the agent keeps getting its own hash back, its heartbeats match,
// and a delta that does not lead to the same hash from the cleaned state is answered with
// need_full, as any disagreement is. A full report whose hash differs from its state's while
// nothing had to be cleaned and no value holds U+FFFD (Replaced) is refused: that is a
// disagreement on structure.
package protocol

import (
	"time"

	"github.com/onus-project/onus/internal/model"
)

// API paths.
const (
	PathEnroll = "/api/v1/enroll"
	PathReport = "/api/v1/report"
)

// Report kinds.
const (
	KindFull      = "full"      // State holds the whole inventory
	KindDelta     = "delta"     // Delta holds the changes against BaseHash
	KindHeartbeat = "heartbeat" // nothing changed since BaseHash
)

// Report statuses.
const (
	// StatusAccepted means the collector holds the state whose hash the response carries.
	StatusAccepted = "accepted"
	// StatusNeedFull means the collector does not hold the report's base state: send a full
	// report (with the same events).
	StatusNeedFull = "need_full"
)

// Event types.
const (
	EventInstalled  = "installed"
	EventRemoved    = "removed"
	EventUpgraded   = "upgraded"
	EventDowngraded = "downgraded"
)

// EnrollRequest asks for a per-host credential.
type EnrollRequest struct {
	EnrollSecret string `json:"enroll_secret"`
	HostID       string `json:"host_id"`
	Hostname     string `json:"hostname,omitempty"`
	AgentVersion string `json:"agent_version,omitempty"`
	// Credential is the host's current credential, the proof that the agent is the one
	// enrolled for HostID when the host is enrolled already: the enroll secret alone never
	// takes over an enrolled host ID.
	Credential string `json:"credential,omitempty"`
	// PendingToken is the token of this enrollment: the agent makes one (32 random bytes)
	// before its first request and presents it on every retry, so that a retry whose answer
	// was lost gets a credential rather than a hold; and once the collector holds the
	// enrollment for an admin, asking again with it gets the credential once approved.
	PendingToken string `json:"pending_token,omitempty"`
}

// Enrollment statuses.
const (
	// EnrollEnrolled: the answer (200) carries the credential.
	EnrollEnrolled = "enrolled"
	// EnrollPending: the host ID is enrolled and the request did not prove it is that host;
	// the collector holds it (202, with Retry-After) until an admin approves or denies it.
	EnrollPending = "pending"
)

// Why an enrollment is pending.
const (
	// PendingNoCredential: the request carried no credential.
	PendingNoCredential = "no_credential"
	// PendingCredentialUnknown: the request's credential is not the host's current one; it
	// proves nothing any more and the agent may forget it.
	PendingCredentialUnknown = "credential_unknown"
)

// EnrollResponse answers an enrollment. With status enrolled (200) it carries the
// credential the agent sends with every report, as "Authorization: Bearer <credential>";
// the collector keeps only its hash. With status pending (202) it carries the enrollment's
// ID (what an admin approves) and the token the agent presents when it asks again.
type EnrollResponse struct {
	HostID       string `json:"host_id"`
	Credential   string `json:"credential,omitempty"`
	Status       string `json:"status,omitempty"`
	EnrollmentID string `json:"enrollment_id,omitempty"`
	PendingToken string `json:"pending_token,omitempty"`
	Reason       string `json:"reason,omitempty"`
	Message      string `json:"message,omitempty"`
}

// Report is what an agent sends: one of a full state, a delta or a heartbeat, plus the
// capacity figures and the install/remove events noticed since the last accepted report.
type Report struct {
	HostID string `json:"host_id"`
	// Seq increases with every report the agent builds; a retried report keeps its Seq, so
	// the collector can recognise it.
	Seq          uint64    `json:"seq"`
	Kind         string    `json:"kind"`
	SentAt       time.Time `json:"sent_at"`
	AgentVersion string    `json:"agent_version,omitempty"`
	// BaseHash is the hash of the state the collector last accepted (delta and heartbeat).
	BaseHash string `json:"base_hash,omitempty"`
	// Hash is the hash of the agent's state once this report is applied.
	Hash     string   `json:"hash"`
	State    *State   `json:"state,omitempty"`
	Delta    *Delta   `json:"delta,omitempty"`
	Capacity Capacity `json:"capacity"`
	// Events are the software changes since the last accepted report, oldest first, with the
	// time each happened (the package database's install time where it records one).
	Events []Event `json:"events,omitempty"`
	// EventsDropped counts events the agent's bounded journal had to drop while the
	// collector was unreachable; the state is still exact, only the history is shortened.
	EventsDropped int `json:"events_dropped,omitempty"`
}

// ReportResponse answers a report.
type ReportResponse struct {
	Status string `json:"status"`
	// Hash is the hash of the state the collector now holds for the host ("" if none).
	Hash string `json:"hash"`
	// Seq is the highest report sequence number the collector has accepted.
	Seq uint64 `json:"seq"`
	// Duplicate is set when the report had been accepted before (a retry).
	Duplicate bool `json:"duplicate,omitempty"`
}

// ErrorResponse is the body of every 4xx and 5xx answer.
type ErrorResponse struct {
	Error string `json:"error"`
}

// State is the part of an inventory that is hashed and stored: everything except the volatile
// capacity figures (available memory and swap, used and free disk space) and per-pass timings.
type State struct {
	Host      model.Host           `json:"host"`
	Software  []model.Package      `json:"software"`
	Services  []model.Service      `json:"services"`
	Listeners []model.Listener     `json:"listeners"`
	Sources   []model.SourceStatus `json:"sources"`
}

// Capacity holds the figures that change between any two passes.
type Capacity struct {
	CollectedAt        time.Time       `json:"collected_at"`
	MemoryAvailable    uint64          `json:"memory_available_bytes"`
	SwapFree           uint64          `json:"swap_free_bytes"`
	Filesystems        []FilesystemUse `json:"filesystems,omitempty"`
	SourceDurationSecs float64         `json:"source_duration_seconds,omitempty"`
}

// FilesystemUse is the space use of one mounted filesystem, by mountpoint.
type FilesystemUse struct {
	Mountpoint string `json:"mountpoint"`
	UsedBytes  uint64 `json:"used_bytes"`
	FreeBytes  uint64 `json:"free_bytes"`
}

// Delta is the change from one State to the next. Lists that are small (listeners, sources)
// or rarely change (host facts) are sent whole when they changed.
type Delta struct {
	Host            *model.Host          `json:"host,omitempty"`
	SoftwareUpsert  []model.Package      `json:"software_upsert,omitempty"`
	SoftwareRemove  []PackageKey         `json:"software_remove,omitempty"`
	ServicesUpsert  []model.Service      `json:"services_upsert,omitempty"`
	ServicesRemove  []ServiceKey         `json:"services_remove,omitempty"`
	ListenersChange bool                 `json:"listeners_changed,omitempty"`
	Listeners       []model.Listener     `json:"listeners,omitempty"`
	SourcesChange   bool                 `json:"sources_changed,omitempty"`
	Sources         []model.SourceStatus `json:"sources,omitempty"`
}

// PackageKey identifies one installed package on a host. The version is part of it because
// rpm keeps several versions of install-only packages (kernels) side by side.
type PackageKey struct {
	Source  string `json:"source"`
	Name    string `json:"name"`
	Arch    string `json:"arch,omitempty"`
	Version string `json:"version"`
}

// Key returns the package's key.
func Key(p model.Package) PackageKey {
	return PackageKey{Source: p.Source, Name: p.Name, Arch: p.Arch, Version: p.Version}
}

// ServiceKey identifies one service on a host.
type ServiceKey struct {
	Manager string `json:"manager"`
	Name    string `json:"name"`
}

// Event is one software change on a host.
type Event struct {
	Type    string `json:"type"` // installed, removed, upgraded, downgraded
	Source  string `json:"source"`
	Name    string `json:"name"`
	Arch    string `json:"arch,omitempty"`
	Version string `json:"version,omitempty"` // the version after the change (before, for removed)
	// PreviousVersion is the version before an upgrade or downgrade.
	PreviousVersion string `json:"previous_version,omitempty"`
	// Time is when the change happened: the package database's install time where it
	// records one, else when the agent noticed the change.
	Time time.Time `json:"time"`
	// DetectedAt is when the agent noticed the change.
	DetectedAt time.Time `json:"detected_at"`
	// Who made the change and how, for an install, upgrade or downgrade, where the host
	// records it: the installed package's model.InstallInfo fields of the same names.
	InstalledBy    string `json:"installed_by,omitempty"`
	InstallCommand string `json:"install_command,omitempty"`
	Requested      string `json:"requested,omitempty"`
	Evidence       string `json:"evidence,omitempty"`
}

// attribute copies what says who installed p, and how, to e.
func (e *Event) attribute(p *model.Package) {
	e.InstalledBy, e.InstallCommand, e.Requested, e.Evidence = p.InstalledBy, p.InstallCommand, p.Requested, p.Evidence
}

// Title returns the event's software title, e.g. "deb:nginx".
func (e Event) Title() string { return model.TitleKey(e.Source, e.Name) }
