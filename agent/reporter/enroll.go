package reporter

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/onus-project/onus/agent/spool"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/version"
)

// enrollment is what the agent knows of its enrollment beyond the state directory.
type enrollment struct {
	// rejected is set when the collector refused the credential on a report: the next
	// enrollment presents it, the proof that this agent is the one enrolled for the host.
	// The credential is forgotten only when the collector says it does not know it.
	rejected bool
	// logged is the last state logged (pending:<id>, denied:<id>, refused), so that an
	// agent waiting for an admin logs each change once, not each retry.
	logged string
}

// newToken returns 32 random bytes in base64, the token of an enrollment.
func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// errEnrollLogged marks an enrollment failure already logged for its state.
var errEnrollLogged = errors.New("enrollment state logged")

// credential returns the host's credential, enrolling when there is none for hostID or when
// the collector refused it. Enrolling a host ID that is enrolled already needs the proof of
// the current credential; without it the collector may hold the enrollment until an admin
// approves it, and the agent asks again with the enrollment's token, honouring Retry-After,
// while it keeps collecting and journaling changes.
func (r *Reporter) credential(ctx context.Context, hostID string) (string, error) {
	c, have := r.spool.Credential()
	have = have && c.HostID == hostID
	if have && !r.enr.rejected {
		return c.Credential, nil
	}
	req := protocol.EnrollRequest{EnrollSecret: r.opts.EnrollSecret, HostID: hostID, AgentVersion: version.Version}
	if r.prev != nil {
		req.Hostname = r.prev.Host.Hostname
	}
	if have {
		req.Credential = c.Credential
	}
	held, holding := r.spool.Enrollment()
	if !holding || held.HostID != hostID {
		// A token of this request, kept before it is sent: if the answer is lost, the retry
		// presents it and the collector recognizes its own enrollment, not a takeover.
		held = spool.Enrollment{HostID: hostID, Token: newToken(), RequestedAt: r.now().UTC()}
		if err := r.spool.SaveEnrollment(held); err != nil {
			r.log.Warn("cannot save the enrollment token; a lost answer would need an admin", "err", err)
		}
		holding = true
	}
	req.PendingToken = held.Token
	body, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	status, data, hdr, err := r.do(ctx, protocol.PathEnroll, "", body, false)
	if err != nil {
		r.m.enrollments.WithLabelValues("error").Inc()
		return "", err
	}
	retryAfter := parseRetryAfter(hdr.Get("Retry-After"), r.now())
	var resp protocol.EnrollResponse
	if status == http.StatusOK || status == http.StatusAccepted {
		if err := protocol.Decode(bytes.NewReader(data), "", protocol.Limits{Compressed: maxResponse, Decompressed: maxResponse}, &resp); err != nil {
			r.m.enrollments.WithLabelValues("error").Inc()
			return "", fmt.Errorf("enroll: bad answer: %w", err)
		}
		if resp.HostID != hostID {
			r.m.enrollments.WithLabelValues("error").Inc()
			return "", fmt.Errorf("enroll: answer for host %q, not %q", resp.HostID, hostID)
		}
	}
	switch status {
	case http.StatusOK:
	case http.StatusAccepted:
		return "", r.pending(hostID, have, &resp, retryAfter)
	case http.StatusForbidden, http.StatusConflict:
		result := "denied"
		if status == http.StatusConflict {
			result = "refused"
		}
		r.m.enrollments.WithLabelValues(strconv.Itoa(status)).Inc()
		r.m.enrollWait.Set(0)
		err := fmt.Errorf("enroll: %s: %s", http.StatusText(status), errorMessage(data))
		if state := result + ":" + req.PendingToken; r.enr.logged != state {
			r.enr.logged = state
			r.log.Error("the collector will not enroll this agent: its host ID is enrolled already and this agent cannot prove it is that host; it keeps collecting and asks again",
				"host_id", hostID, "status", status, "error", errorMessage(data), "retry_in_at_least", retryAfter)
		}
		return "", &httpError{err: fmt.Errorf("%w: %w", errEnrollLogged, err), retryAfter: retryAfter}
	default:
		r.m.enrollments.WithLabelValues(strconv.Itoa(status)).Inc()
		err := fmt.Errorf("enroll: %s: %s", http.StatusText(status), errorMessage(data))
		if status == http.StatusUnauthorized {
			err = fmt.Errorf("enroll: the collector refused the enroll secret: %s", errorMessage(data))
		}
		return "", &httpError{err: err, retryAfter: retryAfter}
	}
	if resp.Credential == "" {
		r.m.enrollments.WithLabelValues("error").Inc()
		return "", fmt.Errorf("enroll: answer for host %q without a credential", resp.HostID)
	}
	if err := r.spool.SaveCredential(spool.Credential{HostID: hostID, Credential: resp.Credential, EnrolledAt: r.now().UTC()}); err != nil {
		r.log.Warn("cannot save the credential; enrolling again at the next start", "err", err)
	}
	if holding {
		if err := r.spool.RemoveEnrollment(); err != nil {
			r.log.Warn("cannot remove the enrollment file", "err", err)
		}
	}
	r.enr.rejected = false
	r.m.enrollments.WithLabelValues("ok").Inc()
	r.m.enrollWait.Set(0)
	if r.enr.logged != "" {
		r.log.Warn("enrolled with the collector after waiting; reporting resumes with the changes kept meanwhile",
			"host_id", hostID, "collector", r.base.Redacted(), "events_waiting", r.spool.Waiting())
	} else {
		r.log.Info("enrolled with the collector", "host_id", hostID, "collector", r.base.Redacted())
	}
	r.enr.logged = ""
	return resp.Credential, nil
}

// pending keeps the token of an enrollment the collector holds for an admin, and returns the
// error that makes the agent ask again after Retry-After.
func (r *Reporter) pending(hostID string, presented bool, resp *protocol.EnrollResponse, retryAfter time.Duration) error {
	if resp.PendingToken != "" {
		held, ok := r.spool.Enrollment()
		if !ok || held.Token != resp.PendingToken || held.ID != resp.EnrollmentID {
			if err := r.spool.SaveEnrollment(spool.Enrollment{HostID: hostID, ID: resp.EnrollmentID, Token: resp.PendingToken, RequestedAt: r.now().UTC()}); err != nil {
				r.log.Warn("cannot save the pending enrollment; a restart asks anew", "err", err)
			}
		}
	}
	if presented && resp.Reason == protocol.PendingCredentialUnknown {
		// The collector does not know the credential (the host was enrolled anew since):
		// it proves nothing any more.
		if err := r.spool.RemoveCredential(); err != nil {
			r.log.Warn("cannot remove the credential file", "err", err)
		}
		r.enr.rejected = false
	}
	r.m.enrollments.WithLabelValues("pending").Inc()
	r.m.enrollWait.Set(1)
	if state := "pending:" + resp.EnrollmentID; r.enr.logged != state {
		r.enr.logged = state
		r.log.Warn("the collector holds this agent's enrollment until an admin approves it: its host ID is enrolled already and this agent has no credential the collector accepts; it keeps collecting and asks again",
			"host_id", hostID, "enrollment_id", resp.EnrollmentID, "reason", resp.Reason,
			"approve_with", "onus-collector enrollments approve "+resp.EnrollmentID, "retry_in_at_least", retryAfter)
	}
	return &httpError{err: fmt.Errorf("%w: enroll: pending %s: %s", errEnrollLogged, resp.EnrollmentID, resp.Message), retryAfter: retryAfter}
}
