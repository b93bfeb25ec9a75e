package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/onus-project/onus/collector/index"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
)

func (a *API) hosts(w http.ResponseWriter, r *http.Request) {
	limit, after, err := page(r, 500, 5000)
	if err != nil {
		writeError(w, err)
		return
	}
	hostname, err := globParam(r, "hostname")
	if err != nil {
		writeError(w, err)
		return
	}
	labels := map[string]string{}
	for _, l := range r.URL.Query()["label"] {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			writeError(w, protocol.Errorf(http.StatusBadRequest, "label: want key=value, got %q", l))
			return
		}
		labels[k] = v
	}
	osID := r.URL.Query().Get("os")
	own, err := ownerParams(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var staleBefore time.Time
	if s := r.URL.Query().Get("stale"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			writeError(w, protocol.Errorf(http.StatusBadRequest, "stale: want a duration such as 3m"))
			return
		}
		staleBefore = a.now().Add(-d)
	}
	var refusedOnly bool
	if s := r.URL.Query().Get("refused"); s != "" {
		if refusedOnly, err = strconv.ParseBool(s); err != nil {
			writeError(w, protocol.Errorf(http.StatusBadRequest, "refused: want true or false"))
			return
		}
	}
	items, more := a.opts.Index.HostsAndRefused(after, limit, func(h *index.HostSummary) bool {
		if !match(hostname, h.Hostname) || (osID != "" && h.OSID != osID) || !own.keep(&h.Resolution) {
			return false
		}
		for k, v := range labels {
			if h.Labels[k] != v {
				return false
			}
		}
		if !staleBefore.IsZero() && h.Status != nil && !h.Status.LastSeen.Before(staleBefore) {
			return false
		}
		if refusedOnly && (h.Status == nil || h.Status.Refused == nil) {
			return false
		}
		return true
	})
	resp := listResponse[index.HostSummary]{Items: items}
	if items == nil {
		resp.Items = []index.HostSummary{}
	}
	if more {
		resp.Continue = items[len(items)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
}

// HostDetail is the whole inventory of one host.
type HostDetail struct {
	index.Summary
	Status        *store.HostStatus `json:"status,omitempty"`
	Ownership     *index.Why        `json:"ownership,omitempty"`
	Host          any               `json:"host"`
	Software      []SoftwareItem    `json:"software"`
	Services      any               `json:"services"`
	Listeners     any               `json:"listeners"`
	Sources       any               `json:"sources"`
	Events        []protocol.Event  `json:"events"`
	EventsDropped int               `json:"events_dropped,omitempty"`
}

// SoftwareItem is an installation with its title's descriptive fields.
type SoftwareItem struct {
	store.Installation
	Title string `json:"title"`
	model.PackageInfo
}

func (a *API) host(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	h, ok := a.opts.Index.Host(id)
	if !ok {
		if st, found := a.opts.Index.Status(id); found && st.Refused != nil {
			if _, enrolled := a.opts.Index.Agent(id); enrolled {
				ref := st.Refused
				writeError(w, protocol.Errorf(http.StatusNotFound, "host %q is enrolled but none of its reports was accepted: refused with %d since %s: %s",
					id, ref.Status, ref.Since.Format(time.RFC3339), ref.Reason))
				return
			}
		}
		writeError(w, protocol.Errorf(http.StatusNotFound, "no host %q", id))
		return
	}
	rec, err := a.opts.Index.DecodeHost(h.Raw, nil)
	if err != nil {
		writeError(w, err)
		return
	}
	d := HostDetail{Summary: h.Summary, Services: rec.Services, Listeners: rec.Listeners, Sources: rec.Sources,
		Events: rec.Events, EventsDropped: rec.EventsDropped}
	host := rec.Host
	if st, ok := a.opts.Index.Status(id); ok {
		d.Status = &st
		host.Memory.AvailableBytes, host.Memory.SwapFreeBytes = st.Capacity.MemoryAvailable, st.Capacity.SwapFree
		host.Filesystems = slices.Clone(host.Filesystems)
		for i := range host.Filesystems {
			for _, u := range st.Capacity.Filesystems {
				if u.Mountpoint == host.Filesystems[i].Mountpoint {
					host.Filesystems[i].UsedBytes, host.Filesystems[i].FreeBytes = u.UsedBytes, u.FreeBytes
				}
			}
		}
	}
	d.Host = host
	if why, err := a.opts.Index.Why("host:" + id); err == nil {
		d.Ownership = &why
	}
	d.Software = make([]SoftwareItem, len(rec.Software))
	for i, in := range rec.Software {
		it := SoftwareItem{Installation: in, Title: in.Title()}
		if t, ok := a.opts.Index.Title(in.Title()); ok {
			it.PackageInfo = t.PackageInfo
		}
		d.Software[i] = it
	}
	if d.Events == nil {
		d.Events = []protocol.Event{}
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *API) deleteHost(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	found, err := a.opts.Ingest.DeleteHost(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	if !found {
		writeError(w, protocol.Errorf(http.StatusNotFound, "no host %q", id))
		return
	}
	a.log.Info("host deleted", "host_id", id, "remote", r.RemoteAddr)
	w.WriteHeader(http.StatusNoContent)
}
