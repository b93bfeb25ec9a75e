package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/onus-project/onus/collector/index"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/protocol"
)

// TitleItem is a software title of the fleet.
type TitleItem struct {
	Title          string    `json:"title"`
	Source         string    `json:"source"`
	Name           string    `json:"name"`
	Hosts          int       `json:"hosts"`
	InstalledHosts int       `json:"installed_hosts"`
	FirstSeen      time.Time `json:"first_seen,omitzero"`
	FirstHost      string    `json:"first_host,omitempty"`
	model.PackageInfo
	// The title's owner, fleet-wide, whether it is orphaned, and why.
	owners.Resolution
	// With unowned_new: the hosts where the title was installed after their first report,
	// sorted, at most maxInstallingHosts, and whether some were left off.
	InstallingHosts          []string `json:"installing_hosts,omitempty"`
	InstallingHostsTruncated bool     `json:"installing_hosts_truncated,omitempty"`
}

// maxInstallingHosts bounds the installing hosts listed per title of unowned new software.
const maxInstallingHosts = 100

func (a *API) software(w http.ResponseWriter, r *http.Request) {
	limit, after, err := page(r, 1000, 10000)
	if err != nil {
		writeError(w, err)
		return
	}
	name, err := globParam(r, "name")
	if err != nil {
		writeError(w, err)
		return
	}
	since, err := a.sinceParam(r, "new_since")
	if err != nil {
		writeError(w, err)
		return
	}
	own, err := ownerParams(r)
	if err != nil {
		writeError(w, err)
		return
	}
	// Unowned new software: unowned titles installed on an enrolled host (not in its first
	// report), first seen in the fleet within the window.
	unownedNew, err := boolParam(r, "unowned_new")
	if err != nil {
		writeError(w, err)
		return
	}
	window, err := windowParam(r, "window", 7*24*time.Hour)
	if err != nil {
		writeError(w, err)
		return
	}
	newSince := a.now().Add(-window)
	q := r.URL.Query()
	source := q.Get("source")
	installedOnly := q.Get("installed") == "true"
	minHosts := 1
	if s := q.Get("min_hosts"); s != "" {
		if minHosts, err = strconv.Atoi(s); err != nil || minHosts < 0 {
			writeError(w, protocol.Errorf(http.StatusBadRequest, "min_hosts: want a number of 0 or more"))
			return
		}
	}
	var items []TitleItem
	for _, t := range a.opts.Index.Titles() {
		title := t.Key()
		if title <= after || (source != "" && t.Source != source) || !match(name, t.Name) || t.Hosts < minHosts ||
			(installedOnly && t.Installed == 0) || (!since.IsZero() && (t.FirstSeen.IsZero() || t.FirstSeen.Before(since))) || !own.keep(&t.Ownership) ||
			(unownedNew && (t.Installed == 0 || t.Ownership.Owned() || t.FirstSeen.IsZero() || t.FirstSeen.Before(newSince))) {
			continue
		}
		items = append(items, TitleItem{Title: title, Source: t.Source, Name: t.Name, Hosts: t.Hosts, InstalledHosts: t.Installed,
			FirstSeen: t.FirstSeen, FirstHost: t.FirstHost, PackageInfo: t.PackageInfo,
			Resolution: t.Ownership})
	}
	resp := pageOf(items, limit, func(t TitleItem) string { return t.Title })
	if unownedNew {
		for i := range resp.Items {
			it := &resp.Items[i]
			it.InstallingHosts, it.InstallingHostsTruncated = a.opts.Index.InstallingHosts(it.Title, maxInstallingHosts)
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *API) services(w http.ResponseWriter, r *http.Request) {
	limit, after, err := page(r, 1000, 10000)
	if err != nil {
		writeError(w, err)
		return
	}
	name, err := globParam(r, "name")
	if err != nil {
		writeError(w, err)
		return
	}
	kind := r.URL.Query().Get("kind")
	var items []index.ServiceEntry
	for _, s := range a.opts.Index.Services() {
		if s.Title <= after || (kind != "" && s.Kind != kind) || !match(name, s.Name) {
			continue
		}
		items = append(items, s)
	}
	writeJSON(w, http.StatusOK, pageOf(items, limit, func(s index.ServiceEntry) string { return s.Title }))
}
