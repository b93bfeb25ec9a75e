package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/onus-project/onus/collector/ownership"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/protocol"
)

// maxItemSize bounds the body of an item-level registry write.
const maxItemSize = 64 << 10

// registryEdit changes the registry read from the store, in place. It returns the status of
// the answer (http.StatusOK, http.StatusCreated or http.StatusNoContent) and the body to
// send with it, or an error (a *protocol.Error, or *refusal for a 400 listing problems).
type registryEdit func(reg *owners.Registry) (status int, body any, err error)

// refusal is an edit that would leave the registry invalid: every problem, as in the 400 of
// an apply.
type refusal struct{ loadErrors }

func (r *refusal) Error() string { return r.loadErrors.Error }

func refused(msg string, problems []string) *refusal {
	return &refusal{loadErrors{Error: msg, Errors: problems}}
}

// ifMatch reads the optional If-Match header: the Onus-Registry-Revision the client read.
func ifMatch(r *http.Request) (int64, bool, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" {
		return 0, false, nil
	}
	h = strings.TrimPrefix(h, "W/")
	rev, err := strconv.ParseInt(strings.Trim(h, `"`), 10, 64)
	if err != nil || rev < 0 {
		return 0, false, protocol.Errorf(http.StatusBadRequest, "If-Match: want the %s value of a previous answer, e.g. \"42\"", RegistryRevisionHeader)
	}
	return rev, true, nil
}

// editRegistry changes the registry through the ownership service, which reads it from the
// store, applies edit, validates the result and writes it, running edit again when another
// write came first. With If-Match, a registry whose revision is no longer the one given
// answers 412.
func (a *API) editRegistry(w http.ResponseWriter, r *http.Request, what string, edit registryEdit) {
	want, conditional, err := ifMatch(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if !conditional {
		want = ownership.Any
	}
	var status int
	var body any
	kv, err := a.opts.Ownership.Edit(r.Context(), want, func(reg *owners.Registry) error {
		var err error
		status, body, err = edit(reg)
		return err
	})
	var rf *refusal
	var inv *ownership.InvalidError
	var stale *ownership.StaleError
	switch {
	case errors.As(err, &rf):
		a.log.Info("registry change refused", "change", what, "remote", r.RemoteAddr, "errors", len(rf.Errors))
		writeJSON(w, http.StatusBadRequest, rf.loadErrors)
		return
	case errors.As(err, &inv):
		le := loadErrors{Error: inv.Error()}
		for _, e := range unjoin(inv.Err) {
			le.Errors = append(le.Errors, e.Error())
		}
		a.log.Info("registry change refused", "change", what, "remote", r.RemoteAddr, "errors", len(le.Errors))
		writeJSON(w, http.StatusBadRequest, le)
		return
	case errors.As(err, &stale):
		w.Header().Set(RegistryRevisionHeader, strconv.FormatInt(stale.Current, 10))
		writeError(w, protocol.Errorf(http.StatusPreconditionFailed, "%s", stale.Error()))
		return
	case errors.Is(err, ownership.ErrBusy):
		writeError(w, protocol.Errorf(http.StatusConflict, "%s", err.Error()))
		return
	case err != nil:
		writeError(w, err)
		return
	}
	w.Header().Set(RegistryRevisionHeader, strconv.FormatInt(kv.ModRevision, 10))
	a.log.Info("ownership registry changed", "change", what, "revision", kv.ModRevision, "remote", r.RemoteAddr)
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

// decodeItem reads a JSON body into v, refusing unknown fields and trailing data.
func decodeItem(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxItemSize+1))
	if err != nil || len(body) > maxItemSize {
		return protocol.Errorf(http.StatusRequestEntityTooLarge, "body larger than %d bytes", maxItemSize)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return protocol.Errorf(http.StatusBadRequest, "body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return protocol.Errorf(http.StatusBadRequest, "body: data after the JSON object")
	}
	return nil
}

// pathID reads the {id} of an item route, and checks that the body's id, if any, agrees.
func pathID(r *http.Request, bodyID *string) error {
	id := r.PathValue("id")
	if *bodyID != "" && *bodyID != id {
		return protocol.Errorf(http.StatusBadRequest, "id %q in the body differs from %q in the path", *bodyID, id)
	}
	*bodyID = id
	return nil
}

func (a *API) listRegistry(w http.ResponseWriter, items func(reg *owners.Registry) any) {
	reg, rev := a.opts.Index.Registry()
	w.Header().Set(RegistryRevisionHeader, strconv.FormatInt(rev, 10))
	writeJSON(w, http.StatusOK, map[string]any{"items": items(reg)})
}

func (a *API) getRules(w http.ResponseWriter, r *http.Request) {
	a.listRegistry(w, func(reg *owners.Registry) any {
		if reg.Rules == nil {
			return []owners.Rule{}
		}
		return reg.Rules
	})
}

func (a *API) getAssignments(w http.ResponseWriter, r *http.Request) {
	a.listRegistry(w, func(reg *owners.Registry) any {
		if reg.Assignments == nil {
			return []owners.Assignment{}
		}
		return reg.Assignments
	})
}

func (a *API) putOwner(w http.ResponseWriter, r *http.Request) {
	var o owners.Owner
	if err := decodeItem(w, r, &o); err != nil {
		writeError(w, err)
		return
	}
	if err := pathID(r, &o.ID); err != nil {
		writeError(w, err)
		return
	}
	if o.State == "" {
		o.State = owners.StateActive
	}
	if len(o.Escalation) == 0 {
		o.Escalation = nil
	}
	a.editRegistry(w, r, "put owner "+o.ID, func(reg *owners.Registry) (int, any, error) {
		for i := range reg.Owners {
			if reg.Owners[i].ID == o.ID {
				reg.Owners[i] = o
				return http.StatusOK, o, nil
			}
		}
		reg.Owners = append(reg.Owners, o)
		return http.StatusCreated, o, nil
	})
}

func (a *API) deleteOwner(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a.editRegistry(w, r, "delete owner "+id, func(reg *owners.Registry) (int, any, error) {
		i := slices.IndexFunc(reg.Owners, func(o owners.Owner) bool { return o.ID == id })
		if i < 0 {
			return 0, nil, protocol.Errorf(http.StatusNotFound, "no owner %q", id)
		}
		var refs []string
		for _, ru := range reg.Rules {
			if ru.Owner == id {
				refs = append(refs, fmt.Sprintf("rule %q gives its assets to owner %q", ru.ID, id))
			}
		}
		for _, as := range reg.Assignments {
			if as.Owner == id {
				refs = append(refs, fmt.Sprintf("assignment of %s %s names owner %q", as.Kind, as.Asset, id))
			}
		}
		for _, o := range reg.Owners {
			if o.Parent == id {
				refs = append(refs, fmt.Sprintf("owner %q has %q as its parent", o.ID, id))
			}
		}
		if len(refs) > 0 {
			return 0, nil, refused(fmt.Sprintf("owner %q is still referenced (%d times): reassign or delete what refers to it first, or retire it (state: retired)", id, len(refs)), refs)
		}
		reg.Owners = append(reg.Owners[:i], reg.Owners[i+1:]...)
		return http.StatusNoContent, nil, nil
	})
}

func (a *API) putRule(w http.ResponseWriter, r *http.Request) {
	var ru owners.Rule
	if err := decodeItem(w, r, &ru); err != nil {
		writeError(w, err)
		return
	}
	if err := pathID(r, &ru.ID); err != nil {
		writeError(w, err)
		return
	}
	if len(ru.Match.Labels) == 0 {
		ru.Match.Labels = nil
	}
	a.editRegistry(w, r, "put rule "+ru.ID, func(reg *owners.Registry) (int, any, error) {
		// A rule that exists keeps its place in the declared order; a new one goes last.
		if i := slices.IndexFunc(reg.Rules, func(x owners.Rule) bool { return x.ID == ru.ID }); i >= 0 {
			reg.Rules[i] = ru
			return http.StatusOK, ru, nil
		}
		reg.Rules = append(reg.Rules, ru)
		return http.StatusCreated, ru, nil
	})
}

func (a *API) deleteRule(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a.editRegistry(w, r, "delete rule "+id, func(reg *owners.Registry) (int, any, error) {
		i := slices.IndexFunc(reg.Rules, func(x owners.Rule) bool { return x.ID == id })
		if i < 0 {
			return 0, nil, protocol.Errorf(http.StatusNotFound, "no rule %q", id)
		}
		reg.Rules = append(reg.Rules[:i], reg.Rules[i+1:]...)
		return http.StatusNoContent, nil, nil
	})
}

// assetKey is an assignment's identity: its kind and asset, service titles in their
// canonical spelling.
func assetKey(kind owners.Kind, asset string) string {
	if kind == owners.KindService {
		if s, err := owners.ParseServiceKey(asset); err == nil {
			asset = s.Key()
		}
	}
	return string(kind) + " " + asset
}

func (a *API) putAssignment(w http.ResponseWriter, r *http.Request) {
	var as owners.Assignment
	if err := decodeItem(w, r, &as); err != nil {
		writeError(w, err)
		return
	}
	key := assetKey(as.Kind, as.Asset)
	a.editRegistry(w, r, "put assignment "+key, func(reg *owners.Registry) (int, any, error) {
		if i := slices.IndexFunc(reg.Assignments, func(x owners.Assignment) bool { return assetKey(x.Kind, x.Asset) == key }); i >= 0 {
			reg.Assignments[i] = as
			return http.StatusOK, as, nil
		}
		reg.Assignments = append(reg.Assignments, as)
		return http.StatusCreated, as, nil
	})
}

func (a *API) deleteAssignment(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	kind, asset := owners.Kind(q.Get("kind")), q.Get("asset")
	if kind == "" || asset == "" {
		writeError(w, protocol.Errorf(http.StatusBadRequest, "kind and asset: want e.g. ?kind=software&asset=deb:nginx"))
		return
	}
	key := assetKey(kind, asset)
	a.editRegistry(w, r, "delete assignment "+key, func(reg *owners.Registry) (int, any, error) {
		i := slices.IndexFunc(reg.Assignments, func(x owners.Assignment) bool { return assetKey(x.Kind, x.Asset) == key })
		if i < 0 {
			return 0, nil, protocol.Errorf(http.StatusNotFound, "no assignment of %s %s", kind, asset)
		}
		reg.Assignments = append(reg.Assignments[:i], reg.Assignments[i+1:]...)
		return http.StatusNoContent, nil, nil
	})
}
