package store_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/onus-project/onus/internal/etcdtest"
	"github.com/onus-project/onus/internal/store"
)

func increment(cur []store.KV) ([]store.Write, error) {
	n := 0
	if cur[0].Value != nil {
		var err error
		if n, err = strconv.Atoi(string(cur[0].Value)); err != nil {
			return nil, err
		}
	}
	return []store.Write{store.Put(cur[0].Key, []byte(strconv.Itoa(n+1)))}, nil
}

// TestUpdate runs the store's read-modify-write against a real etcd: a stale starting point
// costs one lost transaction whose Else branch brings the current value, a single attempt
// reports the conflict, a mutation's error and an empty mutation write nothing, and the
// requests are timed and the conflicts counted under the operation's name.
func TestUpdate(t *testing.T) {
	cli := etcdtest.New(t)
	ctx := context.Background()
	s, _ := store.New(cli, "")
	reg := prometheus.NewRegistry()
	for _, c := range s.Collectors() {
		reg.MustRegister(c)
	}
	key := s.Key(store.KindHost, "counter")

	res, err := s.Update(ctx, "count", []store.KV{store.Unread(key)}, increment)
	if err != nil || res.Attempts != 1 || string(res.KVs[0].Value) != "1" || res.KVs[0].ModRevision != res.Revision {
		t.Fatalf("first update: %+v, %v", res, err)
	}
	stale := res.KVs[0]
	if _, err := s.Update(ctx, "count", []store.KV{stale}, increment); err != nil {
		t.Fatal(err)
	}
	// stale now holds "1" at an old revision: the first attempt loses, the second starts from
	// "2" as etcd answered it, in the same transaction, and writes "3".
	res, err = s.Update(ctx, "count", []store.KV{stale}, increment)
	if err != nil || res.Attempts != 2 || string(res.KVs[0].Value) != "3" {
		t.Fatalf("update from a stale value: %+v, %v", res, err)
	}
	if got := testutil.ToFloat64(s.Collectors()[1].(*prometheus.CounterVec).WithLabelValues("count")); got != 1 {
		t.Errorf("conflicts of op count: %v, want 1", got)
	}
	if _, err := s.Update(ctx, "count", []store.KV{stale}, increment, store.Attempts(1)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("single attempt from a stale value: %v, want ErrConflict", err)
	}

	boom := errors.New("boom")
	res, err = s.Update(ctx, "count", []store.KV{store.Unread(key)}, func([]store.KV) ([]store.Write, error) { return nil, boom })
	if !errors.Is(err, boom) || res.Revision != 0 {
		t.Fatalf("failing mutation: %+v, %v", res, err)
	}
	res, err = s.Update(ctx, "count", []store.KV{store.Unread(key)}, func([]store.KV) ([]store.Write, error) { return nil, nil })
	if err != nil || res.Revision != 0 || string(res.KVs[0].Value) != "3" {
		t.Fatalf("empty mutation: %+v, %v", res, err)
	}

	// Several keys move together: a put and a delete, or neither.
	other := s.Key(store.KindAgent, "x")
	if _, err := s.Put(ctx, store.KindAgent, "x", []byte("a"), 0); err != nil {
		t.Fatal(err)
	}
	res, err = s.Update(ctx, "move", []store.KV{store.Unread(key), store.Unread(other)}, func(cur []store.KV) ([]store.Write, error) {
		return []store.Write{store.Del(cur[0].Key), store.Put(cur[1].Key, append([]byte("moved:"), cur[0].Value...))}, nil
	})
	if err != nil || res.KVs[0].Value != nil || string(res.KVs[1].Value) != "moved:3" {
		t.Fatalf("move: %+v, %v", res, err)
	}
	if kv, _ := s.Get(ctx, store.KindHost, "counter"); kv.Value != nil {
		t.Fatalf("moved key still holds %q", kv.Value)
	}

	n, err := testutil.GatherAndCount(reg, "onus_collector_store_operation_duration_seconds")
	if err != nil || n < 4 {
		t.Fatalf("timed operations: %d series, %v", n, err)
	}
}

// TestUpdateContended has writers increment one key at once, each from a stale starting
// point: every increment lands exactly once.
func TestUpdateContended(t *testing.T) {
	cli := etcdtest.New(t)
	ctx := context.Background()
	s, _ := store.New(cli, "")
	key := s.Key(store.KindHost, "counter")
	const writers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := store.KV{Key: key} // believed absent: wrong after the first write
			for range each {
				res, err := s.Update(ctx, "count", []store.KV{start}, increment, store.Attempts(100))
				if err != nil {
					errs <- err
					return
				}
				start = res.KVs[0]
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	kv, err := s.Get(ctx, store.KindHost, "counter")
	if err != nil || string(kv.Value) != strconv.Itoa(writers*each) {
		t.Fatalf("counter %q after %d increments, %v", kv.Value, writers*each, err)
	}
}
