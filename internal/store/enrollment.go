package store

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// KindEnrollment holds the enrollments of host IDs that were enrolled already and whose
// request did not prove to be that host: enrollments/<host id>/<enrollment id>, each under
// an etcd lease of PendingTTL, so that requests nobody decides on go away by themselves.
const KindEnrollment = "enrollments"

// PendingTTL is how long an enrollment waits for an admin's decision, and how long a denial
// is remembered.
const PendingTTL = 7 * 24 * time.Hour

// Enrollment states.
const (
	EnrollmentPending  = "pending"
	EnrollmentApproved = "approved"
	EnrollmentDenied   = "denied"
)

// Enrollment is an enrollment held for an admin's decision.
type Enrollment struct {
	ID     string `json:"id"`
	HostID string `json:"host_id"`
	State  string `json:"state"`
	// TokenSHA256 is the hex SHA-256 of the token the agent presents when it asks again
	// (see HashCredential): only the agent that made the request can claim the approval.
	TokenSHA256  string    `json:"token_sha256"`
	Reason       string    `json:"reason"`
	Remote       string    `json:"remote"`
	Hostname     string    `json:"hostname,omitempty"`
	AgentVersion string    `json:"agent_version,omitempty"`
	RequestedAt  time.Time `json:"requested_at"`
	DecidedAt    time.Time `json:"decided_at,omitzero"`
	// DecidedBy is the remote address of the admin's request.
	DecidedBy string `json:"decided_by,omitempty"`
}

// EnrollmentName returns the key name of an enrollment.
func EnrollmentName(hostID, id string) string { return hostID + "/" + id }

// ListKind returns up to limit keys of one kind whose names start with namePrefix (all of
// the kind when empty), read at one revision.
func (s *Store) ListKind(ctx context.Context, kind, namePrefix string, limit int64) ([]KV, error) {
	resp, err := s.get(ctx, "list_"+kind, s.prefix+kind+"/"+namePrefix, clientv3.WithPrefix(), clientv3.WithLimit(limit))
	if err != nil {
		return nil, err
	}
	out := make([]KV, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		out[i] = KV{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision}
	}
	return out, nil
}

// CountKind returns how many keys of one kind have names starting with namePrefix.
func (s *Store) CountKind(ctx context.Context, kind, namePrefix string) (int64, error) {
	resp, err := s.get(ctx, "count_"+kind, s.prefix+kind+"/"+namePrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return resp.Count, nil
}

// CreateLeased writes a key that must not exist, attached to a new lease of ttl: etcd
// deletes it when the lease expires. It returns the new ModRevision, or an error wrapping
// ErrConflict.
func (s *Store) CreateLeased(ctx context.Context, kind, name string, value []byte, ttl time.Duration) (int64, error) {
	gctx, cancel := s.op(ctx)
	start := time.Now()
	lease, err := s.cli.Grant(gctx, int64(ttl/time.Second))
	s.observe("lease_grant", start)
	err = classify(gctx, err)
	cancel()
	if err != nil {
		return 0, err
	}
	key := s.Key(kind, name)
	res, err := s.Update(ctx, "create_"+kind, []KV{{Key: key}}, func([]KV) ([]Write, error) {
		return []Write{{Key: key, Value: value, Lease: lease.ID}}, nil
	}, Attempts(1))
	if err != nil {
		// Best effort: an unused lease would only expire later.
		rctx, cancel := s.op(ctx)
		start := time.Now()
		_, _ = s.cli.Revoke(rctx, lease.ID)
		s.observe("lease_revoke", start)
		cancel()
		return 0, err
	}
	return res.Revision, nil
}
