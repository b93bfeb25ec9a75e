package store

import (
	"context"
	"fmt"
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
	resp, err := s.get(ctx, s.prefix+kind+"/"+namePrefix, clientv3.WithPrefix(), clientv3.WithLimit(limit))
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
	resp, err := s.get(ctx, s.prefix+kind+"/"+namePrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return resp.Count, nil
}

// CreateLeased writes a key that must not exist, attached to a new lease of ttl: etcd
// deletes it when the lease expires. It returns the new ModRevision, or ErrConflict.
func (s *Store) CreateLeased(ctx context.Context, kind, name string, value []byte, ttl time.Duration) (int64, error) {
	gctx, cancel := s.op(ctx)
	lease, err := s.cli.Grant(gctx, int64(ttl/time.Second))
	err = classify(gctx, err)
	cancel()
	if err != nil {
		return 0, err
	}
	key := s.Key(kind, name)
	resp, err := s.commit(ctx, func(t clientv3.Txn) clientv3.Txn {
		return t.If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, string(value), clientv3.WithLease(lease.ID)))
	})
	if err == nil && !resp.Succeeded {
		err = ErrConflict
	}
	if err != nil {
		// Best effort: an unused lease would only expire later.
		rctx, cancel := s.op(ctx)
		_, _ = s.cli.Revoke(rctx, lease.ID)
		cancel()
		return 0, err
	}
	return resp.Header.Revision, nil
}

// Update rewrites an existing key if its ModRevision is still modRev, keeping its lease.
func (s *Store) Update(ctx context.Context, kind, name string, value []byte, modRev int64) (int64, error) {
	if modRev == 0 {
		return 0, fmt.Errorf("store: update of %s/%s without a revision", kind, name)
	}
	key := s.Key(kind, name)
	resp, err := s.commit(ctx, func(t clientv3.Txn) clientv3.Txn {
		return t.If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
			Then(clientv3.OpPut(key, string(value), clientv3.WithIgnoreLease()))
	})
	if err != nil {
		return 0, err
	}
	if !resp.Succeeded {
		return 0, ErrConflict
	}
	return resp.Header.Revision, nil
}

// PutAndDelete writes a key (compare-and-swap on putRev, 0: absent) and deletes another
// (if its ModRevision is still delRev) in one transaction: an approved enrollment is used
// up exactly when its credential is written.
func (s *Store) PutAndDelete(ctx context.Context, kind, name string, value []byte, putRev int64, delKey string, delRev int64) (int64, error) {
	key := s.Key(kind, name)
	resp, err := s.commit(ctx, func(t clientv3.Txn) clientv3.Txn {
		return t.If(clientv3.Compare(clientv3.ModRevision(key), "=", putRev), clientv3.Compare(clientv3.ModRevision(delKey), "=", delRev)).
			Then(clientv3.OpPut(key, string(value)), clientv3.OpDelete(delKey))
	})
	if err != nil {
		return 0, err
	}
	if !resp.Succeeded {
		return 0, ErrConflict
	}
	return resp.Header.Revision, nil
}
