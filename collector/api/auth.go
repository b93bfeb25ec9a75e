package api

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/onus-project/onus/internal/protocol"
)

// admin lets the admin token and the read-only token through: for reads.
func (a *API) admin(h http.HandlerFunc) http.HandlerFunc { return a.scoped(h, false) }

// write lets only the admin token through.
func (a *API) write(h http.HandlerFunc) http.HandlerFunc { return a.scoped(h, true) }

func (a *API) scoped(h http.HandlerFunc, write bool) http.HandlerFunc {
	return a.ready(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		is := func(want string) bool {
			return ok && want != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(want)) == 1
		}
		switch {
		case is(a.opts.AdminToken):
		case is(a.opts.ReadToken):
			if write {
				writeError(w, protocol.Errorf(http.StatusForbidden, "the read-only token cannot change anything or take snapshots: use the admin token"))
				return
			}
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="onus-admin"`)
			writeError(w, protocol.Errorf(http.StatusUnauthorized, "admin token required (Authorization: Bearer <token>)"))
			return
		}
		if r.Method == http.MethodGet {
			a.catchUp(r.Context())
		}
		h(w, r)
	})
}

// catchUpWait bounds how long a read waits for the index to reflect this replica's writes.
const catchUpWait = time.Second

// catchUp waits until the index reflects this replica's newest write (read-your-writes for
// a client of one replica: the host it deleted is gone, the rule it wrote resolves), at most
// catchUpWait; past that, the read is served from the index as it is.
func (a *API) catchUp(ctx context.Context) {
	if a.opts.Written == nil {
		return
	}
	rev := a.opts.Written()
	if rev == 0 || a.opts.Index.Revision() >= rev {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, catchUpWait)
	defer cancel()
	if err := a.opts.Index.WaitRevision(wctx, rev); err != nil && ctx.Err() == nil {
		a.log.Debug("index behind this replica's writes; serving what it holds", "revision", rev, "err", err)
	}
}

// metricsAuth asks for the read-only or the admin token on /metrics when MetricsAuth says
// so. Unlike the admin API it answers before the index is synced: a collector that is
// starting is scraped too, or up{} could not tell it from one that is down.
func (a *API) metricsAuth(h http.Handler) http.Handler {
	if a.opts.MetricsAuth != MetricsAuthReadToken {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		is := func(want string) bool {
			return ok && want != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(want)) == 1
		}
		if !is(a.opts.ReadToken) && !is(a.opts.AdminToken) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="onus-metrics"`)
			writeError(w, protocol.Errorf(http.StatusUnauthorized, "metrics need the read-only token (Authorization: Bearer <token>): the collector runs with --metrics-auth read-token"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// Who may read /metrics.
const (
	MetricsAuthNone      = "none"
	MetricsAuthReadToken = "read-token"
)
