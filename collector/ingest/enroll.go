package ingest

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/onus-project/onus/collector/index"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
)

// ReenrollPolicy says what an enrollment of a host ID that is enrolled already gets when it
// does not present the host's current credential.
type ReenrollPolicy string

// Re-enrollment policies.
const (
	// PolicyApprove holds the enrollment until an admin approves or denies it (the default).
	PolicyApprove ReenrollPolicy = "approve"
	// PolicyRefuse refuses it (409): an agent that lost its state directory comes back
	// only after an admin deletes its host.
	PolicyRefuse ReenrollPolicy = "refuse"
	// PolicyAllow replaces the host's credential, as releases before this one did: anyone
	// holding the enroll secret, which every host has, can take over any host. Unsafe.
	PolicyAllow ReenrollPolicy = "allow"
)

// ParseReenrollPolicy reads a policy name ("" is PolicyApprove).
func ParseReenrollPolicy(s string) (ReenrollPolicy, error) {
	switch p := ReenrollPolicy(s); p {
	case "":
		return PolicyApprove, nil
	case PolicyApprove, PolicyRefuse, PolicyAllow:
		return p, nil
	}
	return "", fmt.Errorf("re-enrollment policy %q: want approve, refuse or allow", s)
}

// Bounds on the enrollments held for a decision: an agent asking again presents its token
// and adds none, so only new requests count.
const (
	MaxPendingEnrollments        = 1000
	MaxPendingEnrollmentsPerHost = 10
)

// minClientToken is the shortest token of an agent's own that the collector keeps: 32
// random bytes in base64 (onus-agent's) are 43 characters.
const minClientToken = 32

// DefaultPendingRetryAfter is the Retry-After of a pending enrollment's answer.
const DefaultPendingRetryAfter = 30 * time.Second

// Enrollment results, the values of onus_collector_enrollments_total's result label.
const (
	resultOK              = "ok"               // a host ID without an agent: new credential
	resultRotated         = "rotated"          // proved with the current credential
	resultCertificate     = "certificate"      // proved with a client certificate named after the host ID
	resultApproved        = "approved"         // an approved pending enrollment claimed
	resultReplaced        = "replaced"         // --reenroll-policy allow, without proof
	resultPending         = "pending"          // held for an admin's decision
	resultWaiting         = "waiting"          // asked again with a still pending enrollment's token
	resultDenied          = "denied"           // asked again with a denied enrollment's token
	resultTakeoverRefused = "takeover_refused" // --reenroll-policy refuse, without proof
	resultRefused         = "refused"          // wrong enroll secret
	resultRateLimited     = "rate_limited"     // over the rate limit or the pending bounds
	resultInvalid         = "invalid"
	resultError           = "error"
)

var enrollResults = []string{resultOK, resultRotated, resultCertificate, resultApproved, resultReplaced, resultPending, resultWaiting, resultDenied,
	resultTakeoverRefused, resultRefused, resultRateLimited, resultInvalid, resultError}

// enrollState is the enrollment side of an Ingest.
type enrollState struct {
	policy     ReenrollPolicy
	retryAfter time.Duration
	limit      *limiter

	// pending caches the gauge of pending enrollments between scrapes that cannot read
	// the store.
	mu      sync.Mutex
	pending float64
}

func (g *Ingest) initEnroll(opts Options) error {
	p, err := ParseReenrollPolicy(string(opts.ReenrollPolicy))
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	g.enr = &enrollState{policy: p, retryAfter: opts.PendingRetryAfter, limit: newLimiter(opts.EnrollRateLimit, g.now)}
	if g.enr.retryAfter <= 0 {
		g.enr.retryAfter = DefaultPendingRetryAfter
	}
	for _, r := range enrollResults {
		g.m.enrollments.WithLabelValues(r)
	}
	if opts.Registerer != nil {
		return opts.Registerer.Register(pendingGauge{g})
	}
	return nil
}

// PendingRetryAfter is how long an agent whose enrollment is pending waits before asking
// again.
func (g *Ingest) PendingRetryAfter() time.Duration { return g.enr.retryAfter }

// RetryError is a refusal that says when to try again (429 and 503 answers).
type RetryError struct {
	Err   *protocol.Error
	After time.Duration
}

func (e *RetryError) Error() string { return e.Err.Error() }
func (e *RetryError) Unwrap() error { return e.Err }

// RetryAfter returns the delay a refusal asks for, or 0.
func RetryAfter(err error) time.Duration {
	var re *RetryError
	if errors.As(err, &re) {
		return re.After
	}
	return 0
}

func retryErr(status int, after time.Duration, format string, args ...any) error {
	return &RetryError{Err: protocol.Errorf(status, format, args...), After: max(after, time.Second)}
}

// Peer is who sent an enrollment: its address, and the names (common name and DNS names)
// of the TLS client certificate it presented, when one was verified against the
// collector's client CA.
type Peer struct {
	Addr      string
	CertNames []string
}

// Enroll checks the enroll secret and gives the host a credential. A host ID that is
// enrolled already is given a new credential only with proof that the request comes from
// that host: its current credential, a verified client certificate named after the host ID,
// or the token of a pending enrollment an admin approved. Without proof the policy decides:
// the enrollment is held for an admin (status pending), refused (409), or, with PolicyAllow
// only, takes the host over.
func (g *Ingest) Enroll(ctx context.Context, req *protocol.EnrollRequest, from Peer) (*protocol.EnrollResponse, error) {
	remote := from.Addr
	for field, n := range protocol.CleanEnroll(req) {
		g.m.cleaned.WithLabelValues(field).Add(float64(n))
	}
	if err := protocol.ValidateEnroll(req); err != nil {
		g.m.enrollments.WithLabelValues(resultInvalid).Inc()
		return nil, err
	}
	addr := limitKey(remote)
	ok, wait, first := g.enr.limit.allow(addr)
	if !ok {
		g.m.enrollments.WithLabelValues(resultRateLimited).Inc()
		if first {
			g.log.Warn("enrollments from this address refused for a while: too many wrong enroll secrets or held enrollments",
				"remote", remote, "host_id", req.HostID, "retry_in", wait.Round(time.Millisecond))
		}
		return nil, retryErr(http.StatusTooManyRequests, wait, "too many failed enrollments from %s or from everywhere: try again later", addr)
	}
	resp, result, err := g.enroll(ctx, req, from)
	g.m.enrollments.WithLabelValues(result).Inc()
	switch result {
	case resultPending, resultWaiting, resultDenied, resultTakeoverRefused, resultRefused, resultRateLimited:
		g.enr.limit.spend(addr)
	}
	return resp, err
}

func (g *Ingest) enroll(ctx context.Context, req *protocol.EnrollRequest, from Peer) (*protocol.EnrollResponse, string, error) {
	remote := from.Addr
	if !g.acceptsSecret(req.EnrollSecret) {
		g.log.Info("enrollment with a wrong enroll secret refused", "remote", remote, "host_id", req.HostID)
		return nil, resultRefused, errBadSecret
	}
	lock := g.lock(req.HostID)
	lock.Lock()
	defer lock.Unlock()
	kv, err := g.st.Get(ctx, store.KindAgent, req.HostID)
	if err != nil {
		return nil, resultError, g.storeErr("read agent", err)
	}
	var claim *pendingKV
	if req.PendingToken != "" {
		if claim, err = g.findPending(ctx, req.HostID, req.PendingToken); err != nil {
			return nil, resultError, err
		}
	}
	if kv.Value == nil {
		// Not enrolled (new, or deleted by an admin): the enroll secret is enough. The
		// request's own token is kept (hashed) with the agent: a retry whose answer was
		// lost presents it again and gets a credential, not a hold.
		resp, err := g.issue(ctx, req, kv.ModRevision, claim, claim == nil && len(req.PendingToken) >= minClientToken)
		if err != nil {
			return nil, resultError, err
		}
		g.log.Info("agent enrolled", "host_id", req.HostID, "hostname", req.Hostname, "remote", remote)
		return resp, resultOK, nil
	}
	return g.reenroll(ctx, req, from, kv, claim)
}

// reenroll decides on the enrollment of a host ID that is enrolled already (kv, its agent
// key): proof of being that host gets a credential; without proof, a claimed approval or
// denial decides, else the re-enrollment policy.
func (g *Ingest) reenroll(ctx context.Context, req *protocol.EnrollRequest, from Peer, kv store.KV, claim *pendingKV) (*protocol.EnrollResponse, string, error) {
	remote := from.Addr
	var cur store.Agent
	if err := json.Unmarshal(kv.Value, &cur); err != nil {
		// An unreadable agent key proves nothing either way: it is treated as enrolled.
		g.log.Warn("unreadable agent key", "host_id", req.HostID, "err", err)
	}
	retried := claim == nil && req.PendingToken != "" && cur.EnrollTokenSHA256 != "" &&
		subtle.ConstantTimeCompare([]byte(store.HashCredential(req.PendingToken)), []byte(cur.EnrollTokenSHA256)) == 1
	if retried || req.Credential != "" && strings.HasPrefix(req.Credential, req.HostID+".") &&
		subtle.ConstantTimeCompare([]byte(store.HashCredential(req.Credential)), []byte(cur.CredentialSHA256)) == 1 {
		resp, err := g.issue(ctx, req, kv.ModRevision, claim, retried)
		if err != nil {
			return nil, resultError, err
		}
		g.log.Info("agent enrolled again with its credential; credential rotated", "host_id", req.HostID, "remote", remote)
		return resp, resultRotated, nil
	}
	if slices.Contains(from.CertNames, req.HostID) {
		resp, err := g.issue(ctx, req, kv.ModRevision, claim, false)
		if err != nil {
			return nil, resultError, err
		}
		g.log.Info("agent enrolled again with a client certificate named after its host ID; credential replaced", "host_id", req.HostID, "remote", remote)
		return resp, resultCertificate, nil
	}
	reason := protocol.PendingNoCredential
	if req.Credential != "" {
		reason = protocol.PendingCredentialUnknown
	}
	if claim != nil {
		switch claim.e.State {
		case store.EnrollmentApproved:
			resp, err := g.issue(ctx, req, kv.ModRevision, claim, false)
			if err != nil {
				return nil, resultError, err
			}
			g.log.Warn("approved enrollment claimed: the host's earlier credential no longer works", "host_id", req.HostID,
				"enrollment_id", claim.e.ID, "remote", remote, "approved_by", claim.e.DecidedBy)
			return resp, resultApproved, nil
		case store.EnrollmentDenied:
			return nil, resultDenied, protocol.Errorf(http.StatusForbidden,
				"enrollment %s of host %s was denied by an admin; the host keeps its enrolled agent", claim.e.ID, req.HostID)
		default:
			return g.pendingAnswer(claim.e, req.PendingToken), resultWaiting, nil
		}
	}
	switch g.enr.policy {
	case PolicyAllow:
		resp, err := g.issue(ctx, req, kv.ModRevision, nil, false)
		if err != nil {
			return nil, resultError, err
		}
		g.log.Warn("enrolled host taken over without proof (re-enrollment policy allow)", "host_id", req.HostID,
			"hostname", req.Hostname, "enrolled_hostname", cur.Hostname, "remote", remote, "reason", reason)
		return resp, resultReplaced, nil
	case PolicyRefuse:
		g.log.Warn("enrollment of an enrolled host ID refused: no proof that it is that host", "host_id", req.HostID,
			"hostname", req.Hostname, "enrolled_hostname", cur.Hostname, "remote", remote, "reason", reason)
		return nil, resultTakeoverRefused, protocol.Errorf(http.StatusConflict,
			"host %s is enrolled already and this request does not present its credential; an agent that lost its state comes back once an admin deletes the host (onus-collector hosts delete %s)",
			req.HostID, req.HostID)
	}
	e, token, err := g.hold(ctx, req, remote, reason)
	if err != nil {
		result := resultError
		if pe := (*protocol.Error)(nil); errors.As(err, &pe) && pe.Status == http.StatusTooManyRequests {
			result = resultRateLimited
		}
		return nil, result, err
	}
	g.log.Warn("enrollment of an enrolled host ID held for an admin's approval: no proof that it is that host",
		"host_id", req.HostID, "hostname", req.Hostname, "enrolled_hostname", cur.Hostname, "remote", remote, "reason", reason,
		"enrollment_id", e.ID, "approve", "onus-collector enrollments approve "+e.ID, "deny", "onus-collector enrollments deny "+e.ID)
	return g.pendingAnswer(e, token), resultPending, nil
}

func (g *Ingest) pendingAnswer(e store.Enrollment, token string) *protocol.EnrollResponse {
	return &protocol.EnrollResponse{HostID: e.HostID, Status: protocol.EnrollPending, EnrollmentID: e.ID, PendingToken: token, Reason: e.Reason,
		Message: fmt.Sprintf("host %s is enrolled already and this request does not present its credential: enrollment %s waits for an admin (onus-collector enrollments approve %s, or deny %s)",
			e.HostID, e.ID, e.ID, e.ID)}
}

// issue writes a new credential for the host, replacing the agent key at agentRev (0: none)
// and using up the claimed enrollment in the same transaction. keepToken keeps the hash of
// the request's token with the agent, the proof a retry of this enrollment presents.
func (g *Ingest) issue(ctx context.Context, req *protocol.EnrollRequest, agentRev int64, claim *pendingKV, keepToken bool) (*protocol.EnrollResponse, error) {
	cred := req.HostID + "." + randomText(32)
	a := store.Agent{HostID: req.HostID, CredentialSHA256: store.HashCredential(cred), EnrolledAt: g.now().UTC(),
		Hostname: req.Hostname, AgentVersion: req.AgentVersion}
	if keepToken {
		a.EnrollTokenSHA256 = store.HashCredential(req.PendingToken)
	}
	val, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	key := g.st.Key(store.KindAgent, req.HostID)
	start := []store.KV{{Key: key, ModRevision: agentRev}}
	writes := []store.Write{store.Put(key, val)}
	if claim != nil {
		start = append(start, claim.KV)
		writes = append(writes, store.Del(claim.Key))
	}
	// One attempt: the decision was made on the agent key as read, and another replica that
	// enrolled or deleted the host meanwhile may change it. The agent asks again.
	res, err := g.st.Update(ctx, "put_agent", start, func([]store.KV) ([]store.Write, error) { return writes, nil }, store.Attempts(1))
	if errors.Is(err, store.ErrConflict) {
		return nil, retryErr(http.StatusServiceUnavailable, time.Second, "host %s changed during its enrollment: try again", req.HostID)
	}
	if err != nil {
		return nil, g.storeErr("write agent", err)
	}
	g.w.putAgent(req.HostID, res.Revision, &index.AgentEntry{Agent: a, ModRevision: res.Revision})
	return &protocol.EnrollResponse{HostID: req.HostID, Credential: cred, Status: protocol.EnrollEnrolled}, nil
}

// hold stores a new pending enrollment and returns it with its token.
func (g *Ingest) hold(ctx context.Context, req *protocol.EnrollRequest, remote, reason string) (store.Enrollment, string, error) {
	total, err := g.st.CountKind(ctx, store.KindEnrollment, "")
	if err != nil {
		return store.Enrollment{}, "", g.storeErr("count enrollments", err)
	}
	if total >= MaxPendingEnrollments {
		return store.Enrollment{}, "", retryErr(http.StatusTooManyRequests, g.enr.retryAfter,
			"%d enrollments wait for an admin's decision already, the most the collector holds: try again later", total)
	}
	n, err := g.st.CountKind(ctx, store.KindEnrollment, req.HostID+"/")
	if err != nil {
		return store.Enrollment{}, "", g.storeErr("count enrollments", err)
	}
	if n >= MaxPendingEnrollmentsPerHost {
		return store.Enrollment{}, "", retryErr(http.StatusTooManyRequests, g.enr.retryAfter,
			"%d enrollments of host %s wait for an admin's decision already: try again later", n, req.HostID)
	}
	// The agent's own token, when it sent one long enough, so that it keeps one token from
	// its first request on; otherwise one made here.
	token := req.PendingToken
	if len(token) < minClientToken {
		token = randomText(32)
	}
	e := store.Enrollment{ID: randomHex(8), HostID: req.HostID, State: store.EnrollmentPending, TokenSHA256: store.HashCredential(token),
		Reason: reason, Remote: remote, Hostname: req.Hostname, AgentVersion: req.AgentVersion, RequestedAt: g.now().UTC()}
	val, err := json.Marshal(e)
	if err != nil {
		return store.Enrollment{}, "", err
	}
	_, err = g.st.CreateLeased(ctx, store.KindEnrollment, store.EnrollmentName(req.HostID, e.ID), val, store.PendingTTL)
	if err != nil {
		return store.Enrollment{}, "", g.storeErr("write enrollment", err)
	}
	g.addPending(1)
	return e, token, nil
}

type pendingKV struct {
	store.KV
	e store.Enrollment
}

// findPending returns the enrollment of hostID whose token is token, or nil.
func (g *Ingest) findPending(ctx context.Context, hostID, token string) (*pendingKV, error) {
	kvs, err := g.st.ListKind(ctx, store.KindEnrollment, hostID+"/", MaxPendingEnrollments)
	if err != nil {
		return nil, g.storeErr("read enrollments", err)
	}
	sum := []byte(store.HashCredential(token))
	for _, kv := range kvs {
		var e store.Enrollment
		if json.Unmarshal(kv.Value, &e) != nil {
			continue
		}
		if subtle.ConstantTimeCompare(sum, []byte(e.TokenSHA256)) == 1 && e.HostID == hostID {
			return &pendingKV{KV: kv, e: e}, nil
		}
	}
	return nil, nil
}

func randomText(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
