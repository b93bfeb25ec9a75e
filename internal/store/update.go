package store

import (
	"context"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Every write of the store goes through Update, the one read-modify-write of Onus's keys,
// shaped like the Kubernetes apiserver's GuaranteedUpdate:
//
//  1. It starts from the values the caller already holds (the collector's index), so the
//     common case is one transaction, not a read and a write. A key whose value the caller
//     does not hold is given as Unread(key) and read first.
//  2. The mutation computes the writes from those values, without side effects on them.
//  3. One transaction commits the writes if every key's ModRevision is still the one the
//     mutation saw, and otherwise reads the keys' current values (Else(OpGet)): a lost race
//     costs no extra round trip, and the next attempt starts from what etcd holds.
//  4. It tries at most Attempts times (DefaultAttempts), then fails with ErrConflict.
//  5. A mutation that writes nothing on values the caller held is confirmed on etcd's: the
//     keys are read, and if one moved, the mutation runs again on what etcd holds. So a
//     decision not to write is never made on a stale cache either.
//
// Each transaction is timed and counted under the caller's operation name (see metrics.go),
// and conflicts are counted per operation.

// DefaultAttempts is how many times Update runs its mutation when writes keep losing to
// concurrent ones, unless an Attempts option says otherwise.
const DefaultAttempts = 5

// Unknown is the ModRevision of a value the caller does not hold (see Unread).
const Unknown int64 = -1

// Unread is the starting point of a key whose value the caller does not hold: Update reads
// it before the first attempt.
func Unread(key string) KV { return KV{Key: key, ModRevision: Unknown} }

// Write is one change of an Update: a put of Value, or a delete.
type Write struct {
	Key    string
	Value  []byte
	Delete bool
	// Lease attaches the key to an etcd lease; KeepLease keeps the lease the key has.
	Lease     clientv3.LeaseID
	KeepLease bool
}

// Put is the write of value to key.
func Put(key string, value []byte) Write { return Write{Key: key, Value: value} }

// Del is the deletion of key.
func Del(key string) Write { return Write{Key: key, Delete: true} }

// Mutation computes the writes of one attempt from the current values of the keys Update
// guards, in the order they were given (an absent key has a nil Value and ModRevision 0).
// No writes end the update without a transaction; an error ends it and is returned as it
// is. It may run several times and must not keep state between runs.
type Mutation func(cur []KV) ([]Write, error)

// UpdateOption changes how Update retries.
type UpdateOption func(*updateConfig)

type updateConfig struct{ attempts int }

// Attempts bounds the number of attempts (1: a single compare-and-swap, whose conflict the
// caller handles).
func Attempts(n int) UpdateOption { return func(c *updateConfig) { c.attempts = max(1, n) } }

// Result is what an Update ended with: the keys' values after it (the written ones with
// their new ModRevision), the revision of the write (0 when nothing was written), and the
// attempts it took.
type Result struct {
	KVs      []KV
	Revision int64
	Attempts int
}

// Update runs mutate on the values of the guarded keys, starting from start (one KV per
// key: the value the caller holds, or Unread), and commits its writes if none of the keys
// changed meanwhile; otherwise it runs mutate again on the current values. op names the
// operation in the store's metrics. It fails with an error wrapping ErrConflict when every
// attempt lost, ErrUnavailable or ErrNoSpace when etcd refused, or the mutation's error.
func (s *Store) Update(ctx context.Context, op string, start []KV, mutate Mutation, opts ...UpdateOption) (Result, error) {
	cfg := updateConfig{attempts: DefaultAttempts}
	for _, o := range opts {
		o(&cfg)
	}
	cur, err := s.readUnknown(ctx, op, start)
	if err != nil {
		return Result{}, err
	}
	// fresh says whether cur was read from etcd by this update (rather than held by the
	// caller, and perhaps stale).
	fresh := true
	for _, kv := range start {
		fresh = fresh && kv.ModRevision < 0
	}
	for attempt := 1; ; attempt++ {
		writes, err := mutate(cur)
		if err != nil {
			return Result{KVs: cur, Attempts: attempt}, err
		}
		if len(writes) == 0 && !fresh {
			// A decision to write nothing, made on held values: confirm it on etcd's, as
			// the transaction that lost does for a write.
			now, err := s.readUnknown(ctx, op, unread(cur))
			if err != nil {
				return Result{KVs: cur, Attempts: attempt}, err
			}
			fresh = true
			if !sameRevisions(cur, now) {
				cur = now
				continue
			}
		}
		if len(writes) == 0 {
			return Result{KVs: cur, Attempts: attempt}, nil
		}
		resp, err := s.commit(ctx, op, func(t clientv3.Txn) clientv3.Txn {
			return t.If(guards(cur)...).Then(ops(writes)...).Else(gets(cur)...)
		})
		if err != nil {
			return Result{KVs: cur, Attempts: attempt}, err
		}
		if resp.Succeeded {
			s.noteWrite(resp.Header.Revision)
			return Result{KVs: written(cur, writes, resp.Header.Revision), Revision: resp.Header.Revision, Attempts: attempt}, nil
		}
		s.metrics.conflicts.WithLabelValues(op).Inc()
		cur, fresh = current(cur, resp.Responses), true
		if attempt >= cfg.attempts {
			return Result{KVs: cur, Attempts: attempt}, fmt.Errorf("%w: %s lost %d times to concurrent writes", ErrConflict, op, attempt)
		}
	}
}

// readUnknown reads the keys of start the caller does not hold, in one transaction.
func (s *Store) readUnknown(ctx context.Context, op string, start []KV) ([]KV, error) {
	cur := make([]KV, len(start))
	copy(cur, start)
	var get []clientv3.Op
	for _, kv := range cur {
		if kv.ModRevision < 0 {
			get = append(get, clientv3.OpGet(kv.Key))
		}
	}
	if len(get) == 0 {
		return cur, nil
	}
	resp, err := s.commit(ctx, op+"_read", func(t clientv3.Txn) clientv3.Txn { return t.Then(get...) })
	if err != nil {
		return nil, err
	}
	i := 0
	for j := range cur {
		if cur[j].ModRevision < 0 {
			cur[j] = rangeKV(cur[j].Key, resp.Responses[i].GetResponseRange())
			i++
		}
	}
	return cur, nil
}

// unread returns the keys of kvs to be read again.
func unread(kvs []KV) []KV {
	out := make([]KV, len(kvs))
	for i, kv := range kvs {
		out[i] = Unread(kv.Key)
	}
	return out
}

func sameRevisions(a, b []KV) bool {
	for i := range a {
		if a[i].ModRevision != b[i].ModRevision {
			return false
		}
	}
	return true
}

func guards(cur []KV) []clientv3.Cmp {
	cmps := make([]clientv3.Cmp, len(cur))
	for i, kv := range cur {
		cmps[i] = clientv3.Compare(clientv3.ModRevision(kv.Key), "=", kv.ModRevision)
	}
	return cmps
}

func ops(writes []Write) []clientv3.Op {
	out := make([]clientv3.Op, len(writes))
	for i, w := range writes {
		switch {
		case w.Delete:
			out[i] = clientv3.OpDelete(w.Key)
		case w.Lease != 0:
			out[i] = clientv3.OpPut(w.Key, string(w.Value), clientv3.WithLease(w.Lease))
		case w.KeepLease:
			out[i] = clientv3.OpPut(w.Key, string(w.Value), clientv3.WithIgnoreLease())
		default:
			out[i] = clientv3.OpPut(w.Key, string(w.Value))
		}
	}
	return out
}

func gets(cur []KV) []clientv3.Op {
	out := make([]clientv3.Op, len(cur))
	for i, kv := range cur {
		out[i] = clientv3.OpGet(kv.Key)
	}
	return out
}

// written is cur with the writes applied at revision rev; written keys that were not
// guarded are appended.
func written(cur []KV, writes []Write, rev int64) []KV {
	out := make([]KV, len(cur), len(cur)+len(writes))
	copy(out, cur)
	at := make(map[string]int, len(cur))
	for i, kv := range out {
		at[kv.Key] = i
	}
	for _, w := range writes {
		kv := KV{Key: w.Key, Value: w.Value, ModRevision: rev}
		if w.Delete {
			kv = KV{Key: w.Key}
		}
		if i, ok := at[w.Key]; ok {
			out[i] = kv
		} else {
			at[w.Key] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// current reads the keys' values from the Else branch of a transaction that lost.
func current(cur []KV, resps []*pb.ResponseOp) []KV {
	out := make([]KV, len(cur))
	for i, kv := range cur {
		out[i] = rangeKV(kv.Key, resps[i].GetResponseRange())
	}
	return out
}

// rangeKV is the value of key in a range response: nil with revision 0 when absent.
func rangeKV(key string, r *pb.RangeResponse) KV {
	if r == nil || len(r.Kvs) == 0 {
		return KV{Key: key}
	}
	kv := r.Kvs[0]
	return KV{Key: key, Value: kv.Value, ModRevision: kv.ModRevision}
}
