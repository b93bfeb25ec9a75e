package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/onus-project/onus/collector/ingest"
	"github.com/onus-project/onus/internal/protocol"
)

func writeError(w http.ResponseWriter, err error) {
	if se := ingest.StoreFailure("", err); se != nil && se.Reason != ingest.ReasonOther {
		// Straight from the store (the registry's writes), or already answered by ingest.
		if !errors.As(err, &se) {
			err = se
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(se.RetryAfter/time.Second)))
	}
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			pe = protocol.Errorf(http.StatusServiceUnavailable, "request cancelled: %v", err)
		} else {
			pe = protocol.Errorf(http.StatusInternalServerError, "internal error: %v", err)
		}
	}
	if pe.Status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, pe.Status, protocol.ErrorResponse{Error: pe.Msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// page reads limit and continue parameters.
func page(r *http.Request, def, max int) (limit int, after string, err error) {
	limit = def
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > max {
			return 0, "", protocol.Errorf(http.StatusBadRequest, "limit: want a number from 1 to %d", max)
		}
		limit = n
	}
	return limit, r.URL.Query().Get("continue"), nil
}

// globParam reads a glob parameter and checks its syntax.
func globParam(r *http.Request, name string) (string, error) {
	g := r.URL.Query().Get(name)
	if g == "" {
		return "", nil
	}
	if _, err := path.Match(g, ""); err != nil {
		return "", protocol.Errorf(http.StatusBadRequest, "%s: bad glob %q: %v", name, g, err)
	}
	return g, nil
}

func match(glob, s string) bool {
	if glob == "" {
		return true
	}
	ok, _ := path.Match(glob, s)
	return ok
}

// sinceParam reads a time parameter: RFC 3339, or a duration back from now ("168h", "7d").
func (a *API) sinceParam(r *http.Request, name string) (time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return a.now().Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return a.now().Add(-d), nil
	}
	return time.Time{}, protocol.Errorf(http.StatusBadRequest, "%s: want an RFC 3339 time or a duration such as 24h or 7d", name)
}

type listResponse[T any] struct {
	Items    []T    `json:"items"`
	Continue string `json:"continue,omitempty"`
}

// pageOf sorts items by key and returns the first limit of them, with the key to continue
// from when more follow; an empty page lists no items rather than null.
func pageOf[T any](items []T, limit int, key func(T) string) listResponse[T] {
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	resp := listResponse[T]{Items: items}
	if len(items) > limit {
		resp.Items, resp.Continue = items[:limit], key(items[limit-1])
	}
	if resp.Items == nil {
		resp.Items = []T{}
	}
	return resp
}
