package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/onus-project/onus/internal/etcdtest"
	"github.com/onus-project/onus/internal/store"
)

// TestQuorumLost takes two of three members away: every operation fails within the
// deadline with ErrUnavailable instead of hanging, the probe says so, and once the members
// are back the same store writes again.
func TestQuorumLost(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	st, err := store.New(c.Client(t), "")
	if err != nil {
		t.Fatal(err)
	}
	st.SetTimeout(time.Second)
	ctx := context.Background()
	if err := st.EnsureSchema(ctx); err != nil {
		t.Fatal(err)
	}
	rev, err := st.Put(ctx, store.KindAgent, "h1", []byte(`{}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Probe(ctx); err != nil {
		t.Fatalf("probe of a healthy cluster: %v", err)
	}
	after, err := st.List(ctx, 10, func(store.KV) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if after != rev {
		t.Errorf("the probe used revisions: %d after it, %d before", after, rev)
	}

	c.StopMember(1)
	c.StopMember(2)
	ops := map[string]func() error{
		"get": func() error { _, err := st.Get(ctx, store.KindAgent, "h1"); return err },
		"put": func() error { _, err := st.Put(ctx, store.KindAgent, "h1", []byte(`{"x":1}`), rev); return err },
		"create_all": func() error {
			_, _, err := st.CreateAll(ctx, store.KindTitle, map[string][]byte{"deb/x": []byte(`{}`)})
			return err
		},
		"number_builds": func() error {
			_, err := st.NumberBuilds(ctx, []store.Build{{Source: "deb", Name: "x", Version: "1"}})
			return err
		},
		"update": func() error {
			_, err := st.Update(ctx, "delete", []store.KV{store.Unread(st.Key(store.KindAgent, "h1"))}, func(cur []store.KV) ([]store.Write, error) {
				return []store.Write{store.Del(cur[0].Key)}, nil
			})
			return err
		},
		"list":     func() error { _, err := st.List(ctx, 10, func(store.KV) error { return nil }); return err },
		"registry": func() error { _, _, err := st.GetRegistry(ctx); return err },
		"probe":    func() error { return st.Probe(ctx) },
	}
	for name, op := range ops {
		start := time.Now()
		err := op()
		took := time.Since(start)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s without quorum: %v, want ErrUnavailable", name, err)
		}
		if took > 3*time.Second {
			t.Errorf("%s without quorum took %s, deadline 1s", name, took)
		}
	}
	// A caller's own cancellation stays a cancellation.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := st.Get(cctx, store.KindAgent, "h1"); !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("cancelled get: %v", err)
	}

	c.StartMembers(1, 2)
	deadline := time.Now().Add(30 * time.Second)
	for st.Probe(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("store not writable 30s after quorum returned")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A write that timed out without quorum has an unknown outcome, not a failed one: the
	// member left alone may have taken the proposal, which the cluster commits once quorum
	// returns. So the next write starts from what the store holds now.
	kv, err := st.Get(ctx, store.KindAgent, "h1")
	if err != nil {
		t.Fatalf("read after quorum returned: %v", err)
	}
	if kv.ModRevision != rev {
		t.Logf("a write that timed out without quorum was applied once it returned (revision %d, was %d)", kv.ModRevision, rev)
	}
	if _, err := st.Put(ctx, store.KindAgent, "h1", []byte(`{"x":2}`), kv.ModRevision); err != nil {
		t.Fatalf("write after quorum returned: %v", err)
	}
}

// TestNoSpace fills an embedded etcd with a small quota: writes fail with ErrNoSpace (not
// a generic failure), the probe says so while reads still work, and the recovery of the
// runbook (compact, defragment, disarm the alarm) makes the store writable again.
func TestNoSpace(t *testing.T) {
	e, err := store.StartEmbedded(store.EmbedOptions{Dir: t.TempDir(), QuotaBytes: 1 << 20, StartTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	st, err := store.New(e.Client(), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.EnsureSchema(ctx); err != nil {
		t.Fatal(err)
	}
	val := []byte(strings.Repeat("x", 64<<10))
	var rev int64
	var full error
	for i := 0; i < 200; i++ {
		r, err := st.Put(ctx, store.KindHost, "h1", val, rev)
		if err != nil {
			full = err
			break
		}
		rev = r
	}
	if !errors.Is(full, store.ErrNoSpace) || errors.Is(full, store.ErrUnavailable) {
		t.Fatalf("write over the quota: %v, want ErrNoSpace", full)
	}
	if err := st.Probe(ctx); !errors.Is(err, store.ErrNoSpace) {
		t.Errorf("probe of a full store: %v", err)
	}
	if kv, err := st.Get(ctx, store.KindHost, "h1"); err != nil || kv.ModRevision != rev {
		t.Errorf("read of a full store: %v, revision %d, want %d", err, kv.ModRevision, rev)
	}

	// The runbook's recovery, as etcdctl does it: through the client API.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Defragment(ctx, e.Endpoint()); err != nil {
		t.Fatal(err)
	}
	alarms, err := cli.AlarmList(ctx)
	if err != nil || len(alarms.Alarms) == 0 {
		t.Fatalf("alarms: %v %v", alarms, err)
	}
	for _, a := range alarms.Alarms {
		if _, err := cli.AlarmDisarm(ctx, (*clientv3.AlarmMember)(a)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Probe(ctx); err != nil {
		t.Fatalf("probe after recovery: %v", err)
	}
	if _, err := st.Put(ctx, store.KindHost, "h1", []byte("small"), rev); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
}
