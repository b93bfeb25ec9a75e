package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/onus-project/onus/collector/index"
	"github.com/onus-project/onus/collector/ownership"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/protocol"
)

// maxDiffAssets bounds the assets a dry run lists one by one.
const maxDiffAssets = 50

// RegistryRevisionHeader carries the store revision of the registry an answer reflects.
const RegistryRevisionHeader = "Onus-Registry-Revision"

func (a *API) getOwners(w http.ResponseWriter, r *http.Request) {
	reg, rev := a.opts.Index.Registry()
	w.Header().Set(RegistryRevisionHeader, strconv.FormatInt(rev, 10))
	writeJSON(w, http.StatusOK, reg)
}

// ApplyResult is the answer to an apply: what changed and the revision of the registry
// written (0 on a dry run).
type ApplyResult struct {
	DryRun   bool         `json:"dry_run"`
	Revision int64        `json:"revision,omitempty"`
	Diff     *owners.Diff `json:"diff"`
}

// loadErrors is the answer to an owners file that does not load: every problem found.
type loadErrors struct {
	Error  string   `json:"error"`
	Errors []string `json:"errors"`
}

func (a *API) applyOwners(w http.ResponseWriter, r *http.Request) {
	dryRun, err := boolParam(r, "dry_run")
	if err != nil {
		writeError(w, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, owners.MaxSize+1))
	if err != nil || len(body) > owners.MaxSize {
		writeError(w, protocol.Errorf(http.StatusRequestEntityTooLarge, "owners file larger than %d bytes", owners.MaxSize))
		return
	}
	reg, err := decodeRegistry(r, body)
	if err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) {
			writeError(w, err)
			return
		}
		le := loadErrors{Error: err.Error()}
		for _, e := range unjoin(err) {
			le.Errors = append(le.Errors, e.Error())
		}
		a.log.Info("owners file refused", "remote", r.RemoteAddr, "errors", len(le.Errors))
		writeJSON(w, http.StatusBadRequest, le)
		return
	}
	res := ApplyResult{DryRun: dryRun}
	diff, kv, err := a.opts.Ownership.Apply(r.Context(), reg, maxDiffAssets, dryRun)
	var inv *ownership.InvalidError
	switch {
	case errors.As(err, &inv):
		writeError(w, protocol.Errorf(http.StatusBadRequest, "%v", inv.Err))
		return
	case errors.Is(err, ownership.ErrBusy):
		writeError(w, protocol.Errorf(http.StatusConflict, "the ownership registry changed during the apply; run it again"))
		return
	case err != nil:
		writeError(w, err)
		return
	}
	res.Diff = diff
	if !dryRun {
		res.Revision = kv.ModRevision
		w.Header().Set(RegistryRevisionHeader, strconv.FormatInt(kv.ModRevision, 10))
		a.log.Info("ownership registry applied", "revision", kv.ModRevision, "remote", r.RemoteAddr,
			"owners", len(reg.Owners), "rules", len(reg.Rules), "assignments", len(reg.Assignments))
	}
	if wantsText(r) {
		var b bytes.Buffer
		if !dryRun {
			fmt.Fprintf(&b, "applied: registry revision %d\n\n", res.Revision)
		}
		_ = res.Diff.WriteText(&b)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b.Bytes())
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// decodeRegistry reads an owners file: YAML (application/yaml, the default) or JSON.
func decodeRegistry(r *http.Request, body []byte) (*owners.Registry, error) {
	ct := r.Header.Get("Content-Type")
	mt := ""
	if ct != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return nil, protocol.Errorf(http.StatusUnsupportedMediaType, "Content-Type %q: %v", ct, err)
		}
	}
	switch mt {
	case "application/json":
		return owners.DecodeJSON(body)
	case "", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain":
		name := r.URL.Query().Get("file")
		if name == "" {
			name = "owners.yaml"
		}
		return owners.Load(name, body)
	}
	return nil, protocol.Errorf(http.StatusUnsupportedMediaType, "Content-Type %q: send application/yaml or application/json", ct)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func wantsText(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/plain" {
			return true
		}
	}
	return false
}

func boolParam(r *http.Request, name string) (bool, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, protocol.Errorf(http.StatusBadRequest, "%s: want true or false", name)
	}
	return b, nil
}

// CoverageResponse is the ownership coverage of each kind of asset.
type CoverageResponse struct {
	RegistryRevision int64             `json:"registry_revision"`
	Coverage         []owners.Coverage `json:"coverage"`
}

func (a *API) coverage(w http.ResponseWriter, r *http.Request) {
	_, rev := a.opts.Index.Registry()
	writeJSON(w, http.StatusOK, CoverageResponse{RegistryRevision: rev, Coverage: a.opts.Index.Coverage()})
}

func (a *API) why(w http.ResponseWriter, r *http.Request) {
	asset := r.URL.Query().Get("asset")
	if asset == "" {
		writeError(w, protocol.Errorf(http.StatusBadRequest, "asset: want host:<id>, software:<source>:<name> or service:<host id>/<service>"))
		return
	}
	res, err := a.opts.Index.Why(asset)
	switch {
	case errors.Is(err, index.ErrBadAsset):
		writeError(w, protocol.Errorf(http.StatusBadRequest, "%v", err))
	case errors.Is(err, index.ErrUnknownAsset):
		writeError(w, protocol.Errorf(http.StatusNotFound, "%v", err))
	case err != nil:
		writeError(w, err)
	default:
		if !res.Owned() && res.Kind != owners.KindHost {
			if res.Suggestions, err = a.opts.Index.Suggest(asset); err != nil {
				writeError(w, err)
				return
			}
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// ownerFilter is the ownership filters of the asset lists: owner=<id>, unowned=true,
// orphaned=true.
type ownerFilter struct {
	owner             string
	unowned, orphaned bool
}

func ownerParams(r *http.Request) (ownerFilter, error) {
	var f ownerFilter
	var err error
	f.owner = r.URL.Query().Get("owner")
	if f.unowned, err = boolParam(r, "unowned"); err != nil {
		return f, err
	}
	f.orphaned, err = boolParam(r, "orphaned")
	return f, err
}

func (f ownerFilter) keep(res *owners.Resolution) bool {
	return (f.owner == "" || res.Owner == f.owner) && (!f.unowned || !res.Owned()) && (!f.orphaned || res.Orphaned)
}

// windowParam reads a duration back from now: "7d", "36h".
func windowParam(r *http.Request, name string, def time.Duration) (time.Duration, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, protocol.Errorf(http.StatusBadRequest, "%s: want a duration such as 7d or 36h", name)
}
