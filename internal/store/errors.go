package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultTimeout bounds each etcd request unless SetTimeout says otherwise. A healthy
// cluster answers in milliseconds; one without quorum never does, and a collector that waits
// holds a goroutine and an agent's connection per request for as long.
const DefaultTimeout = 5 * time.Second

// ErrUnavailable wraps the failures of a store that cannot take requests now: no etcd leader
// (quorum lost), a request that timed out, no member reachable. Trying again later may work.
var ErrUnavailable = errors.New("store: etcd unavailable")

// ErrNoSpace wraps the failures of a store that is out of space: etcd raised its NOSPACE
// alarm (the backend reached its quota) and refuses every write until an operator compacts,
// defragments and disarms the alarm (see docs/runbook.md, OnusStoreNoSpace). Reads still work.
var ErrNoSpace = errors.New("store: etcd out of space (NOSPACE alarm)")

// SetTimeout sets the deadline of each etcd request (0 or less: DefaultTimeout). A paged
// list has the deadline per page; the watch has none. Call it before the store is used.
func (s *Store) SetTimeout(d time.Duration) {
	if d <= 0 {
		d = DefaultTimeout
	}
	s.timeout = d
}

// Timeout returns the deadline of each etcd request.
func (s *Store) Timeout() time.Duration { return s.timeout }

// op returns the context of one etcd request: bounded by the store's timeout, and asking
// the member to refuse at once when it has no leader instead of queueing the request.
func (s *Store) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(clientv3.WithRequireLeader(ctx), s.timeout)
}

// commit runs one transaction under the request deadline, timed as op.
func (s *Store) commit(ctx context.Context, op string, build func(clientv3.Txn) clientv3.Txn) (*clientv3.TxnResponse, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	defer s.observe(op, time.Now())
	resp, err := build(s.cli.Txn(ctx)).Commit()
	return resp, classify(ctx, err)
}

// get runs one read under the request deadline, timed as op.
func (s *Store) get(ctx context.Context, op, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	defer s.observe(op, time.Now())
	resp, err := s.cli.Get(ctx, key, opts...)
	return resp, classify(ctx, err)
}

// classify wraps an etcd failure in ErrNoSpace or ErrUnavailable when it is one; the
// caller's own cancellation and other errors are returned as they are.
func classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	switch {
	case IsNoSpace(err):
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	case unavailable(err) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// IsNoSpace reports whether err is etcd's "database space exceeded", as a typed client
// error, a gRPC status, or text from a wrapped one.
func IsNoSpace(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNoSpace) || errors.Is(err, rpctypes.ErrNoSpace) || errors.Is(err, rpctypes.ErrGRPCNoSpace) {
		return true
	}
	return strings.Contains(err.Error(), rpctypes.ErrorDesc(rpctypes.ErrGRPCNoSpace))
}

// unavailable reports whether err says etcd cannot serve the request now.
func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	for _, e := range []error{rpctypes.ErrNoLeader, rpctypes.ErrTimeout, rpctypes.ErrTimeoutDueToLeaderFail,
		rpctypes.ErrTimeoutDueToConnectionLost, rpctypes.ErrTimeoutWaitAppliedIndex, rpctypes.ErrLeaderChanged,
		rpctypes.ErrNotCapable, rpctypes.ErrStopped, rpctypes.ErrUnhealthy, rpctypes.ErrTooManyRequests} {
		if errors.Is(err, e) {
			return true
		}
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return true
		}
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		switch ee.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return true
		}
	}
	return false
}

// probeKey is written by no one: the probe's transaction compares a key that always exists
// (the schema) with an impossible revision, so its put never applies.
const probeKey = "probe"

// Probe checks that the store can take writes now, within the request deadline, without
// writing anything: a transaction with a put that etcd refuses under a NOSPACE alarm and
// must agree on through raft (so it needs quorum), guarded by a comparison that always
// fails, so nothing is written and no revision is used. It returns nil, or an error wrapping
// ErrNoSpace or ErrUnavailable (or another failure).
func (s *Store) Probe(ctx context.Context) error {
	_, err := s.commit(ctx, "probe", func(t clientv3.Txn) clientv3.Txn {
		return t.If(clientv3.Compare(clientv3.ModRevision(s.prefix+"schema"), "<", 0)).
			Then(clientv3.OpPut(s.prefix+probeKey, "x"))
	})
	return err
}
