package reporter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/onus-project/onus/agent/spool"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/version"
)

// maxResponse bounds a collector answer that is read.
const maxResponse = 1 << 20

// inflight is the report being sent.
type inflight struct {
	report protocol.Report
	body   []byte
	// target is the state the collector holds once it accepts the report.
	target protocol.State
	// upto is the last journal entry the report carries; persisted says it is the spool's
	// pending report (it carries events).
	upto      uint64
	persisted bool
	// refused means the collector surely did not accept it: the next report is built anew
	// and carries its events.
	refused bool
}

// outcome classifies a collector answer.
type outcome int

const (
	accepted     outcome = iota
	needFull             // 200 need_full
	unauthorized         // 401, 403: enroll again
	rejected             // other 4xx: the report is bad
	transient            // network errors, 408, 429, 5xx: try the same report again later
)

type answer struct {
	outcome    outcome
	status     int
	resp       protocol.ReportResponse
	msg        string
	retryAfter time.Duration
}

// send delivers reports until the collector holds everything the agent has. It returns 0
// when done, or how long to wait before trying again. The caller holds mu, which do lets go
// of while a request is on the network.
func (r *Reporter) send(ctx context.Context) time.Duration {
	refusals := 0
	for ctx.Err() == nil {
		if refusals > 3 {
			return r.backoff(0)
		}
		if r.prev == nil || r.prev.Host.ID == "" {
			r.log.Warn("no host ID collected yet; nothing can be reported before the next pass")
			return 0
		}
		hostID := r.prev.Host.ID
		cred, err := r.credential(ctx, hostID)
		if err != nil {
			if ctx.Err() != nil {
				return 0
			}
			d := r.backoff(retryAfterOf(err))
			if !errors.Is(err, errEnrollLogged) {
				r.log.Warn("enrollment failed", "err", err, "retry_in", d.Round(time.Millisecond))
			}
			return d
		}
		if r.infl == nil || r.infl.refused {
			if err := r.build(); err != nil {
				r.log.Error("cannot build a report", "err", err)
				return r.backoff(0)
			}
		}
		in := r.infl
		kind := in.report.Kind
		a := r.post(ctx, cred, in.body)
		if ctx.Err() != nil {
			return 0
		}
		if a.status == http.StatusOK && a.resp.Seq > in.report.Seq {
			// The collector accepted higher sequence numbers than this agent remembers
			// using (its state directory was restored or wiped): continue above them.
			if err := r.spool.SkipSeq(a.resp.Seq); err != nil {
				r.log.Warn("cannot save the report sequence number", "err", err)
			}
		}
		switch a.outcome {
		case accepted:
			result := "accepted"
			if a.resp.Duplicate {
				result = "duplicate"
			}
			r.m.reports.WithLabelValues(kind, result).Inc()
			r.commit()
			r.log.Debug("report accepted", "kind", kind, "seq", in.report.Seq, "events", len(in.report.Events), "duplicate", a.resp.Duplicate)
			if !r.dirty() {
				return 0
			}
		case needFull:
			r.m.reports.WithLabelValues(kind, "need_full").Inc()
			r.log.Info("collector needs a full report", "seq", in.report.Seq, "kind", kind, "collector_hash", a.resp.Hash)
			in.refused, r.forceFull = true, true
			refusals++
			if kind == protocol.KindFull {
				return r.backoff(0)
			}
		case unauthorized:
			result := "unauthorized"
			if a.status == http.StatusForbidden {
				result = "forbidden"
			}
			r.m.reports.WithLabelValues(kind, result).Inc()
			r.log.Warn("collector refused the credential; enrolling again with it as proof", "status", a.status, "error", a.msg)
			r.enr.rejected = true
			in.refused, r.forceFull = true, true
			refusals++
		case rejected:
			r.m.reports.WithLabelValues(kind, "rejected").Inc()
			r.m.lastRefused.Set(float64(r.now().Unix()))
			r.log.Error("the collector refused the report as invalid; a full report follows, with backoff if that is refused too",
				"status", a.status, "error", a.msg, "kind", kind, "seq", in.report.Seq, "bytes", len(in.body))
			in.refused, r.forceFull = true, true
			refusals++
			if kind == protocol.KindFull {
				return r.backoff(0)
			}
		case transient:
			result := "error"
			if a.status != 0 {
				result = "unavailable"
			}
			r.m.reports.WithLabelValues(kind, result).Inc()
			d := r.backoff(a.retryAfter)
			r.log.Warn("collector unreachable; will resend the same report", "status", a.status, "error", a.msg,
				"seq", in.report.Seq, "attempt", r.attempt, "retry_in", d.Round(time.Millisecond), "events_waiting", r.spool.Waiting())
			return d
		}
	}
	return 0
}

// build makes the next report from the last collection: full when asked for or when the
// collector holds nothing of this host, else a delta or a heartbeat against the last
// accepted state. It carries the events of a refused report and the journal's.
func (r *Reporter) build() error {
	var events []protocol.Event
	dropped := 0
	var upto uint64
	if old := r.infl; old != nil {
		events = slices.Clone(old.report.Events)
		dropped, upto = old.report.EventsDropped, old.upto
	}
	jev, jdropped, jupto := r.spool.Journal()
	events = append(events, jev...)
	dropped += jdropped
	upto = max(upto, jupto)
	// One bad event (a damaged journal) must not get every report refused.
	if ok, bad := validEvents(events); bad > 0 {
		r.log.Error("dropping events the collector would refuse", "events", bad)
		events, dropped = ok, dropped+bad
	}
	seq, err := r.spool.NextSeq()
	if err != nil {
		r.log.Warn("cannot save the report sequence number", "err", err)
	}
	st := *r.prev
	rep := protocol.Report{
		HostID:        st.Host.ID,
		Seq:           seq,
		SentAt:        r.now().UTC(),
		AgentVersion:  version.Version,
		Hash:          r.curHash,
		Capacity:      r.capacity,
		Events:        events,
		EventsDropped: dropped,
	}
	acc := r.spool.Accepted()
	if acc != nil && acc.HostID != rep.HostID {
		acc = nil
	}
	switch {
	case r.forceFull || acc == nil:
		rep.Kind, rep.State = protocol.KindFull, &st
		if acc != nil {
			rep.BaseHash = acc.Hash
		}
	case acc.Hash == rep.Hash:
		rep.Kind, rep.BaseHash = protocol.KindHeartbeat, acc.Hash
	default:
		rep.Kind, rep.BaseHash, rep.Delta = protocol.KindDelta, acc.Hash, protocol.Diff(&acc.State, &st)
	}
	// The collector's own validation, here first: a report it will refuse is this agent's
	// fault, worth a metric and a line, not only a refusal seen on the collector. It is sent
	// all the same, so that the collector records the refusal in the host's status.
	if err := protocol.Validate(&rep); err != nil {
		r.log.Error("the collector will refuse this report", "kind", rep.Kind, "seq", rep.Seq, "err", err)
		r.m.invalid.Inc()
	}
	body, err := protocol.Marshal(&rep)
	if err != nil {
		return err
	}
	in := &inflight{report: rep, body: body, target: st, upto: upto}
	// What the collection loop asked for is in this report; if it fails for sure, the
	// answer's handling asks for a full report again.
	r.due = false
	if rep.Kind == protocol.KindFull {
		r.forceFull = false
	}
	if len(events) > 0 || dropped > 0 {
		// Saved before it is sent: after a restart it is resent as it is.
		if err := r.spool.SavePending(&spool.Pending{Upto: upto, Report: rep}); err != nil {
			r.log.Warn("cannot save the pending report", "err", err)
		}
		in.persisted = true
	}
	r.infl = in
	return nil
}

// commit records that the collector accepted the report in flight.
func (r *Reporter) commit() {
	in := r.infl
	rep := &in.report
	old := r.spool.Accepted()
	if in.persisted || old == nil || old.Hash != rep.Hash || old.HostID != rep.HostID {
		acc := &spool.Accepted{HostID: rep.HostID, Seq: rep.Seq, Hash: rep.Hash, AcceptedAt: r.now().UTC(), State: in.target}
		if err := r.spool.SaveAccepted(acc); err != nil {
			r.log.Warn("cannot save the accepted state", "err", err)
		}
	}
	if in.persisted {
		if err := r.spool.ClearPending(); err != nil {
			r.log.Warn("cannot remove the pending report", "err", err)
		}
	}
	r.infl = nil
	r.attempt = 0
	r.m.lastAccepted.Set(float64(r.now().Unix()))
	r.m.journal.Set(float64(r.spool.Waiting()))
	if rep.EventsDropped > 0 {
		r.log.Warn("the collector was told of events the journal had to drop", "dropped", rep.EventsDropped)
	}
}

// backoff counts a failed attempt and returns the delay before the next one.
func (r *Reporter) backoff(retryAfter time.Duration) time.Duration {
	r.attempt++
	return backoffDelay(rand.Int64N, r.attempt, r.opts.BackoffMin, r.opts.BackoffMax, retryAfter)
}

// backoffDelay returns the delay after the attempt-th consecutive failure: full jitter (a
// delay drawn uniformly by randN, which returns a number in [0, n)) over an exponentially
// growing window, lo doubling up to hi, but never less than retryAfter (itself at most
// maxRetryAfter). Full jitter keeps a fleet that failed together spread when it returns: the
// agents' next attempts are uniform over the window, not bunched at its end.
func backoffDelay(randN func(n int64) int64, attempt int, lo, hi, retryAfter time.Duration) time.Duration {
	ceiling := hi
	if shift := attempt - 1; shift < 40 {
		ceiling = min(ceiling, lo<<max(shift, 0))
	}
	d := time.Duration(randN(int64(ceiling) + 1))
	return max(d, min(retryAfter, maxRetryAfter), 10*time.Millisecond)
}

// post sends a report body and classifies the answer.
func (r *Reporter) post(ctx context.Context, cred string, body []byte) answer {
	start := time.Now()
	status, data, hdr, err := r.do(ctx, protocol.PathReport, cred, body, true)
	r.m.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		return answer{outcome: transient, msg: err.Error()}
	}
	a := answer{status: status, retryAfter: parseRetryAfter(hdr.Get("Retry-After"), r.now())}
	switch {
	case status == http.StatusOK:
		err := protocol.Decode(bytes.NewReader(data), "", protocol.Limits{Compressed: maxResponse, Decompressed: maxResponse}, &a.resp)
		switch {
		case err != nil:
			a.outcome, a.msg = transient, "bad answer: "+err.Error()
		case a.resp.Status == protocol.StatusNeedFull:
			a.outcome = needFull
		case a.resp.Status == protocol.StatusAccepted && a.resp.Hash == r.infl.report.Hash:
			a.outcome = accepted
		case a.resp.Status == protocol.StatusAccepted:
			// The collector holds another state than the one sent: start again from a
			// full report.
			a.outcome, a.msg = needFull, "accepted with hash "+a.resp.Hash
		default:
			a.outcome, a.msg = transient, fmt.Sprintf("unknown status %q", a.resp.Status)
		}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		a.outcome, a.msg = unauthorized, errorMessage(data)
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500,
		status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		// 404 and 405 say nothing about the report: a wrong URL or a proxy in the way.
		a.outcome, a.msg = transient, errorMessage(data)
	default:
		a.outcome, a.msg = rejected, errorMessage(data)
	}
	return a
}

// do posts body to the collector and returns the status, at most maxResponse bytes of the
// answer and its header. Called by the sender with mu held, it lets go of mu until the
// answer is read, so that collections go on while the collector takes its time.
func (r *Reporter) do(ctx context.Context, path, cred string, body []byte, gzipped bool) (int, []byte, http.Header, error) {
	r.mu.Unlock()
	defer r.mu.Lock()
	u := *r.base
	u.Path += path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "onus-agent/"+version.Version)
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, nil, nil, r.explainTLS(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, data, resp.Header, nil
}

// errorMessage returns the message of a protocol.ErrorResponse body, or the body's start.
func errorMessage(data []byte) string {
	var e protocol.ErrorResponse
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(min(n, int64(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

type httpError struct {
	err        error
	retryAfter time.Duration
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func retryAfterOf(err error) time.Duration {
	var he *httpError
	if errors.As(err, &he) {
		return he.retryAfter
	}
	return 0
}

// validEvents returns the events that pass the protocol's validation and how many did not.
func validEvents(evs []protocol.Event) (ok []protocol.Event, bad int) {
	h := strings.Repeat("0", 64)
	probe := protocol.Report{HostID: "probe", Seq: 1, Kind: protocol.KindHeartbeat, BaseHash: h, Hash: h}
	ok = evs[:0:0]
	for _, e := range evs {
		// A journal written by an older onus-agent may hold text it did not clean.
		protocol.CleanEvent(&e)
		probe.Events = []protocol.Event{e}
		if protocol.Validate(&probe) != nil {
			bad++
			continue
		}
		ok = append(ok, e)
	}
	return ok, bad
}
