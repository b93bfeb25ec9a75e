package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/onus-project/onus/internal/etcdtest"
	"github.com/onus-project/onus/internal/store"
)

// TestEnrollmentKeys runs the writes of pending enrollments against a real etcd: a leased
// create that refuses an existing key, an update that keeps the lease, and the transaction
// that writes a credential and uses the enrollment up, refused when either key moved.
func TestEnrollmentKeys(t *testing.T) {
	cli := etcdtest.New(t)
	st, err := store.New(cli, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	name := store.EnrollmentName("h1", "e1")
	rev, err := st.CreateLeased(ctx, store.KindEnrollment, name, []byte(`{"state":"pending"}`), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateLeased(ctx, store.KindEnrollment, name, []byte(`{}`), time.Hour); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	key := st.Key(store.KindEnrollment, name)
	lease := func() clientv3.LeaseID {
		resp, err := cli.Get(ctx, key)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("get %s: %v", key, err)
		}
		return clientv3.LeaseID(resp.Kvs[0].Lease)
	}
	id := lease()
	ttl, err := cli.TimeToLive(ctx, id)
	if err != nil || ttl.TTL <= 0 || ttl.TTL > 3600 {
		t.Fatalf("lease %x: TTL %d, %v", id, ttl.TTL, err)
	}
	approve := func(at int64) (store.Result, error) {
		return st.Update(ctx, "decide", []store.KV{{Key: key, ModRevision: at}}, func([]store.KV) ([]store.Write, error) {
			return []store.Write{{Key: key, Value: []byte(`{"state":"approved"}`), KeepLease: true}}, nil
		}, store.Attempts(1))
	}
	if _, err := approve(rev - 1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("update at a stale revision: %v", err)
	}
	res, err := approve(rev)
	if err != nil {
		t.Fatal(err)
	}
	rev = res.Revision
	if got := lease(); got != id {
		t.Fatalf("update changed the lease from %x to %x", id, got)
	}
	if n, err := st.CountKind(ctx, store.KindEnrollment, "h1/"); err != nil || n != 1 {
		t.Fatalf("count: %d, %v", n, err)
	}
	if n, _ := st.CountKind(ctx, store.KindEnrollment, "h2/"); n != 0 {
		t.Fatalf("count of another host: %d", n)
	}
	// The credential and the enrollment together, or neither.
	agentKey := st.Key(store.KindAgent, "h1")
	claim := func(at int64) error {
		_, err := st.Update(ctx, "claim", []store.KV{{Key: agentKey}, {Key: key, ModRevision: at}}, func([]store.KV) ([]store.Write, error) {
			return []store.Write{store.Put(agentKey, []byte(`{}`)), store.Del(key)}, nil
		}, store.Attempts(1))
		return err
	}
	if err := claim(rev - 1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("put and delete with a stale enrollment: %v", err)
	}
	if kv, _ := st.Get(ctx, store.KindAgent, "h1"); kv.Value != nil {
		t.Fatal("the agent was written by a refused transaction")
	}
	if err := claim(rev); err != nil {
		t.Fatal(err)
	}
	kvs, err := st.ListKind(ctx, store.KindEnrollment, "", 10)
	if err != nil || len(kvs) != 0 {
		t.Fatalf("enrollments after the claim: %d, %v", len(kvs), err)
	}
	if kv, _ := st.Get(ctx, store.KindAgent, "h1"); kv.Value == nil {
		t.Fatal("the agent not written")
	}
}
