package api

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/onus-project/onus/collector/ingest"
	"github.com/onus-project/onus/internal/protocol"
)

func (a *API) enroll(w http.ResponseWriter, r *http.Request) {
	var req protocol.EnrollRequest
	body := http.MaxBytesReader(w, r.Body, protocol.MaxEnrollBytes)
	if err := protocol.Decode(body, r.Header.Get("Content-Encoding"), protocol.Limits{Compressed: protocol.MaxEnrollBytes, Decompressed: protocol.MaxEnrollBytes}, &req); err != nil {
		writeError(w, err)
		return
	}
	from := ingest.Peer{Addr: r.RemoteAddr}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		// Only a certificate the client CA signed names the host (see --tls-client-auth).
		leaf := r.TLS.VerifiedChains[0][0]
		from.CertNames = append([]string{leaf.Subject.CommonName}, leaf.DNSNames...)
	}
	resp, err := a.opts.Ingest.Enroll(r.Context(), &req, from)
	if err != nil {
		if d := ingest.RetryAfter(err); d > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(d.Round(time.Second)/time.Second)))
		}
		a.logRefusal(r, err)
		writeError(w, err)
		return
	}
	if resp.Status == protocol.EnrollPending {
		w.Header().Set("Retry-After", strconv.Itoa(int(a.opts.Ingest.PendingRetryAfter().Round(time.Second)/time.Second)))
		writeJSON(w, http.StatusAccepted, resp)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *API) report(w http.ResponseWriter, r *http.Request) {
	cred, ok := bearer(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="onus-agent"`)
		writeError(w, protocol.Errorf(http.StatusUnauthorized, "agent credential required (Authorization: Bearer <credential>): enroll first"))
		return
	}
	agent, err := a.opts.Ingest.Authenticate(r.Context(), cred)
	if err != nil {
		a.logRefusal(r, err)
		writeError(w, err)
		return
	}
	// One report in flight per host: a credential holds one body, however many
	// connections it opens.
	if !a.busyHosts.add(agent.HostID) {
		a.shed(w, r, "host", http.StatusTooManyRequests, "a report of host %s is already in flight: retry once it is answered", agent.HostID)
		return
	}
	defer a.busyHosts.remove(agent.HostID)
	acct := &account{b: a.memory}
	defer acct.release()
	// The whole compressed body first, under a deadline that moves with the bytes that
	// arrive: a slow client holds no decode slot, and not for long.
	body, err := readBody(w, r, a.opts.Limits.Compressed, a.opts.BodyReadGrace, a.opts.BodyMinRate, acct)
	var slow errSlow
	switch {
	case errors.Is(err, errOverBudget):
		a.shed(w, r, "memory", http.StatusTooManyRequests, "collector busy: the reports in flight hold the memory they may (%d bytes): retry later", a.opts.MaxReportMemory)
		return
	case errors.As(err, &slow):
		a.shed(w, r, "slow", http.StatusRequestTimeout, "%s", slow.msg)
		return
	case err != nil:
		a.logRefusal(r, err, "host_id", agent.HostID)
		if pe := (*protocol.Error)(nil); errors.As(err, &pe) && pe.Status == http.StatusRequestEntityTooLarge {
			// Too large is the host's report refused; a broken connection is not.
			a.opts.Ingest.Refused(agent, nil, err)
		}
		writeError(w, err)
		return
	}
	// Bound the reports decoded at once: a report can take tens of MiB while decoded.
	select {
	case a.sem <- struct{}{}:
	case <-time.After(time.Second):
		a.shed(w, r, "busy", http.StatusTooManyRequests, "collector busy: retry later")
		return
	case <-r.Context().Done():
		return
	}
	defer func() { <-a.sem }()
	var rep protocol.Report
	err = protocol.DecodeCharged(bytes.NewReader(body), r.Header.Get("Content-Encoding"), a.opts.Limits,
		func(n int64) error { return acct.charge(decodeWeight * n) }, &rep)
	if errors.Is(err, errOverBudget) {
		a.shed(w, r, "memory", http.StatusTooManyRequests, "collector busy: the reports in flight hold the memory they may (%d bytes): retry later", a.opts.MaxReportMemory)
		return
	}
	if err != nil {
		a.logRefusal(r, err, "host_id", agent.HostID)
		a.opts.Ingest.Refused(agent, &rep, err)
		writeError(w, err)
		return
	}
	resp, err := a.opts.Ingest.Report(r.Context(), agent, &rep)
	if err != nil {
		a.logRefusal(r, err, "host_id", agent.HostID)
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *API) logRefusal(r *http.Request, err error, args ...any) {
	var pe *protocol.Error
	status := http.StatusInternalServerError
	if errors.As(err, &pe) {
		status = pe.Status
	}
	args = append(args, "path", r.URL.Path, "remote", r.RemoteAddr, "status", status, "err", err)
	var se *ingest.StoreError
	if errors.As(err, &se) {
		// One line per reason and interval during an outage, with the count of the others.
		if n, ok := a.storeLog.allow(se.Reason, a.now()); ok {
			a.log.Warn("request failed: store", append(args, "reason", se.Reason, "suppressed", n)...)
		}
		return
	}
	if status >= 500 {
		a.log.Warn("request failed", args...)
	} else {
		a.log.Info("request refused", args...)
	}
}
