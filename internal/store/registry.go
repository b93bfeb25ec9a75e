package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/onus-project/onus/internal/owners"
)

// RegistryName is the key, under the prefix, of the ownership registry: the JSON of one
// owners.Registry, replaced as a whole.
const RegistryName = "registry"

// RegistryKey returns the full key of the ownership registry.
func (s *Store) RegistryKey() string { return s.prefix + RegistryName }

// IsRegistry reports whether key is the ownership registry's key.
func (s *Store) IsRegistry(key string) bool { return key == s.prefix+RegistryName }

// GetRegistry reads the ownership registry and its ModRevision; a store without one gives an
// empty registry and revision 0.
func (s *Store) GetRegistry(ctx context.Context) (*owners.Registry, int64, error) {
	resp, err := s.get(ctx, "get_registry", s.RegistryKey())
	if err != nil {
		return nil, 0, err
	}
	if len(resp.Kvs) == 0 {
		return &owners.Registry{}, 0, nil
	}
	reg, err := DecodeRegistry(resp.Kvs[0].Value)
	if err != nil {
		return nil, 0, err
	}
	return reg, resp.Kvs[0].ModRevision, nil
}

// EncodeRegistry encodes a registry as its key holds it. The registry must be valid
// (owners.Registry.Validate): every reader decodes it with DecodeRegistry, which checks.
func EncodeRegistry(reg *owners.Registry) ([]byte, error) {
	b, err := json.Marshal(reg)
	if err != nil {
		return nil, fmt.Errorf("store: registry: %w", err)
	}
	return b, nil
}

// PutRegistry replaces the ownership registry if its ModRevision is still modRev (0: if
// there is none yet), and returns the written key, or an error wrapping ErrConflict.
func (s *Store) PutRegistry(ctx context.Context, reg *owners.Registry, modRev int64) (KV, error) {
	if err := reg.Validate(); err != nil {
		return KV{}, fmt.Errorf("store: registry: %w", err)
	}
	b, err := EncodeRegistry(reg)
	if err != nil {
		return KV{}, err
	}
	key := s.RegistryKey()
	res, err := s.Update(ctx, "put_registry", []KV{{Key: key, ModRevision: modRev}}, func([]KV) ([]Write, error) {
		return []Write{Put(key, b)}, nil
	}, Attempts(1))
	if err != nil {
		return KV{}, err
	}
	return res.KVs[0], nil
}

// DecodeRegistry decodes and validates a stored registry.
func DecodeRegistry(b []byte) (*owners.Registry, error) {
	reg, err := owners.DecodeJSON(b)
	if err != nil {
		return nil, fmt.Errorf("store: registry: %w", err)
	}
	return reg, nil
}
