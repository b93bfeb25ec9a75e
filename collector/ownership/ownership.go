// Package ownership is the one writer of the ownership registry (owners, rules and
// assignments, one key replaced as a whole). Every change is a store.Update of the registry
// key that reads the registry from the store (never an older one a replica may still hold),
// applies the change, validates the result and writes it if nobody else wrote in between,
// else runs the change again on what the other writer left. The HTTP API only translates
// requests and answers; the index picks the new registry up from its watch and resolves
// every asset's owner again.
package ownership

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/onus-project/onus/collector/index"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/store"
)

// Service writes the registry.
type Service struct {
	st *store.Store
	ix *index.Index
}

// New returns the service writing through st; ix is the index whose view of the fleet an
// apply's diff is computed on.
func New(st *store.Store, ix *index.Index) *Service { return &Service{st: st, ix: ix} }

// Any is the If-Match of a change that applies to whatever registry the store holds.
const Any int64 = -1

// StaleError is a conditional change (If-Match) made on a registry that is no longer at
// the revision the client read.
type StaleError struct{ Want, Current int64 }

func (e *StaleError) Error() string {
	return fmt.Sprintf("the ownership registry is at revision %d, not %d (If-Match): read it again", e.Current, e.Want)
}

// InvalidError is a change that would leave the registry invalid; Err joins every problem.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// ErrBusy means the registry kept changing under every attempt of a change, or changed
// during an apply.
var ErrBusy = errors.New("the ownership registry kept changing during the write; try again")

// Edit changes the registry in place with edit, which may run more than once (on the
// registry another writer left), and must return an error to write nothing. ifMatch is the
// revision the change was made on (Any: none). It returns the registry key as written.
func (s *Service) Edit(ctx context.Context, ifMatch int64, edit func(*owners.Registry) error) (store.KV, error) {
	res, err := s.st.Update(ctx, "put_registry", []store.KV{store.Unread(s.st.RegistryKey())}, func(cur []store.KV) ([]store.Write, error) {
		if ifMatch != Any && cur[0].ModRevision != ifMatch {
			return nil, &StaleError{Want: ifMatch, Current: cur[0].ModRevision}
		}
		reg := &owners.Registry{}
		if cur[0].Value != nil {
			var err error
			if reg, err = store.DecodeRegistry(cur[0].Value); err != nil {
				return nil, err
			}
		}
		if err := edit(reg); err != nil {
			return nil, err
		}
		return s.encode(reg)
	})
	if errors.Is(err, store.ErrConflict) {
		return store.KV{}, ErrBusy
	}
	if err != nil {
		return store.KV{}, err
	}
	return res.KVs[0], nil
}

// Apply replaces the registry with reg, and returns what that changes for the fleet as the
// index holds it, at most maxAssets assets listed one by one; a dry run writes nothing
// (its KV is zero). The diff is made on the index once it reflects the registry in the
// store, and the write fails with ErrBusy if the registry changed meanwhile: what was
// shown is what was applied.
func (s *Service) Apply(ctx context.Context, reg *owners.Registry, maxAssets int, dryRun bool) (*owners.Diff, store.KV, error) {
	_, storeRev, err := s.st.GetRegistry(ctx)
	if err != nil {
		return nil, store.KV{}, err
	}
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = s.ix.WaitRevision(waitCtx, storeRev)
	cancel()
	if err != nil {
		return nil, store.KV{}, fmt.Errorf("%w: index behind the store: %w", store.ErrUnavailable, err)
	}
	diff, err := s.ix.Diff(reg, maxAssets)
	if err != nil {
		return nil, store.KV{}, &InvalidError{Err: err}
	}
	if dryRun {
		return diff, store.KV{}, nil
	}
	key := s.st.RegistryKey()
	res, err := s.st.Update(ctx, "put_registry", []store.KV{{Key: key, ModRevision: storeRev}}, func([]store.KV) ([]store.Write, error) {
		return s.encode(reg)
	}, store.Attempts(1))
	if errors.Is(err, store.ErrConflict) {
		return nil, store.KV{}, ErrBusy
	}
	if err != nil {
		return nil, store.KV{}, err
	}
	return diff, res.KVs[0], nil
}

// encode validates a registry and returns its write.
func (s *Service) encode(reg *owners.Registry) ([]store.Write, error) {
	if err := reg.Validate(); err != nil {
		return nil, &InvalidError{Err: err}
	}
	b, err := store.EncodeRegistry(reg)
	if err != nil {
		return nil, err
	}
	return []store.Write{store.Put(s.st.RegistryKey(), b)}, nil
}
