package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/onus-project/onus/internal/etcdtest"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/store"
)

func TestRegistryCAS(t *testing.T) {
	cli := etcdtest.New(t)
	ctx := context.Background()
	s, _ := store.New(cli, "/r/")
	reg, rev, err := s.GetRegistry(ctx)
	if err != nil || rev != 0 || len(reg.Owners) != 0 {
		t.Fatalf("empty store: %+v %d %v", reg, rev, err)
	}
	a := &owners.Registry{Owners: []owners.Owner{{ID: "web", State: owners.StateActive}},
		Rules: []owners.Rule{{ID: "nginx", Kind: owners.KindSoftware, Match: owners.Selector{Name: "nginx*"}, Owner: "web"}}}
	kv, err := s.PutRegistry(ctx, a, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !s.IsRegistry(kv.Key) || kv.Key != "/r/registry" {
		t.Fatalf("key %q", kv.Key)
	}
	if _, err := s.PutRegistry(ctx, a, 0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("create over an existing registry: %v", err)
	}
	got, rev, err := s.GetRegistry(ctx)
	if err != nil || rev != kv.ModRevision || len(got.Rules) != 1 || got.Rules[0].Owner != "web" {
		t.Fatalf("get: %+v %d %v", got, rev, err)
	}
	// An invalid registry is never written.
	bad := &owners.Registry{Rules: []owners.Rule{{ID: "x", Kind: owners.KindHost, Match: owners.Selector{All: true}, Owner: "nobody"}}}
	if _, err := s.PutRegistry(ctx, bad, rev); err == nil {
		t.Fatal("invalid registry written")
	}
	if _, err := s.PutRegistry(ctx, &owners.Registry{}, rev); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutRegistry(ctx, a, rev); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("write with a stale revision: %v", err)
	}
}
