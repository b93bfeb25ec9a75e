package api

import (
	"net/http"
	"time"

	"github.com/onus-project/onus/internal/store"
)

// Enrollment is an enrollment of an enrolled host ID held for an admin's decision, as the
// API shows it: without the hash of the agent's token.
type Enrollment struct {
	ID           string    `json:"id"`
	HostID       string    `json:"host_id"`
	State        string    `json:"state"`
	Reason       string    `json:"reason"`
	Remote       string    `json:"remote"`
	Hostname     string    `json:"hostname,omitempty"`
	AgentVersion string    `json:"agent_version,omitempty"`
	RequestedAt  time.Time `json:"requested_at"`
	DecidedAt    time.Time `json:"decided_at,omitzero"`
	DecidedBy    string    `json:"decided_by,omitempty"`
	// EnrolledHostname is the hostname the enrolled agent gave, to compare with Hostname.
	EnrolledHostname string `json:"enrolled_hostname,omitempty"`
}

func (a *API) enrollmentOf(e store.Enrollment) Enrollment {
	out := Enrollment{ID: e.ID, HostID: e.HostID, State: e.State, Reason: e.Reason, Remote: e.Remote, Hostname: e.Hostname,
		AgentVersion: e.AgentVersion, RequestedAt: e.RequestedAt, DecidedAt: e.DecidedAt, DecidedBy: e.DecidedBy}
	if ag, ok := a.opts.Index.Agent(e.HostID); ok {
		out.EnrolledHostname = ag.Hostname
	}
	return out
}

func (a *API) enrollments(w http.ResponseWriter, r *http.Request) {
	all, err := a.opts.Ingest.Enrollments(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	state := r.URL.Query().Get("state")
	items := []Enrollment{}
	for _, e := range all {
		if state == "" || e.State == state {
			items = append(items, a.enrollmentOf(e))
		}
	}
	writeJSON(w, http.StatusOK, listResponse[Enrollment]{Items: items})
}

func (a *API) decide(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		e, err := a.opts.Ingest.Decide(r.Context(), r.PathValue("id"), approve, r.RemoteAddr)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, a.enrollmentOf(e))
	}
}
