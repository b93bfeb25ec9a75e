package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
)

// KindBuild holds the fleet's package builds: one (source, name, architecture, version) each,
// numbered, so that host records list small numbers instead of repeating the same names and
// versions on every host.
const KindBuild = "builds"

// buildCounter is the key that holds the highest build number handed out.
const buildCounter = "counters/builds"

// Build is one package build of the fleet.
type Build struct {
	ID      uint32 `json:"id"`
	Source  string `json:"source"`
	Name    string `json:"name"`
	Arch    string `json:"arch,omitempty"`
	Version string `json:"version"`
}

// BuildKey names a build in the store and in indexes: a hash of its identity, so any
// characters in names and versions are fine.
func BuildKey(source, name, arch, version string) string {
	h := sha256.New()
	for _, s := range []string{source, name, arch, version} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Key returns the build's key name.
func (b Build) Key() string { return BuildKey(b.Source, b.Name, b.Arch, b.Version) }

// NumberBuilds gives each build without a number in the store the next free number, and
// returns every one of them with its number and the key values written or found. The counter
// and the new build keys are written in one Update per batch, which starts from the counter
// as this process last saw it, and from the builds being absent: when another collector
// numbered builds meanwhile, the transaction that lost brings their current values, and the
// next attempt numbers only what is still missing.
func (s *Store) NumberBuilds(ctx context.Context, builds []Build) ([]KV, error) {
	s.numbering.Lock()
	defer s.numbering.Unlock()
	var out []KV
	for len(builds) > 0 {
		batch := builds[:min(len(builds), maxTxnOps-2)]
		builds = builds[len(batch):]
		kvs, err := s.numberBatch(ctx, batch)
		if err != nil {
			return out, err
		}
		out = append(out, kvs...)
	}
	return out, nil
}

// numberBatch numbers one batch; the caller holds s.numbering.
func (s *Store) numberBatch(ctx context.Context, batch []Build) ([]KV, error) {
	start := make([]KV, 0, len(batch)+1)
	start = append(start, s.counter)
	for _, b := range batch {
		start = append(start, KV{Key: s.Key(KindBuild, b.Key())})
	}
	res, err := s.Update(ctx, "number_builds", start, func(cur []KV) ([]Write, error) {
		var next uint64
		if v := cur[0].Value; v != nil {
			var err error
			if next, err = strconv.ParseUint(string(v), 10, 32); err != nil {
				return nil, fmt.Errorf("store: build counter %q: %w", v, err)
			}
		}
		var w []Write
		for i, b := range batch {
			if cur[i+1].Value != nil {
				continue
			}
			if next >= 1<<32-1 {
				return nil, fmt.Errorf("store: build numbers exhausted")
			}
			next++
			b.ID = uint32(next)
			val, err := json.Marshal(b)
			if err != nil {
				return nil, err
			}
			w = append(w, Put(cur[i+1].Key, val))
		}
		if len(w) == 0 {
			return nil, nil
		}
		return append(w, Put(cur[0].Key, []byte(strconv.FormatUint(next, 10)))), nil
	}, Attempts(20))
	if len(res.KVs) > 0 {
		s.counter = res.KVs[0]
	}
	if err != nil {
		// The counter may have moved in a way this process did not see: read it next time.
		s.counter = Unread(s.prefix + buildCounter)
		return nil, err
	}
	return res.KVs[1:], nil
}

// DecodeBuild parses a build key's value.
func DecodeBuild(b []byte) (Build, error) {
	var bd Build
	if err := json.Unmarshal(b, &bd); err != nil {
		return Build{}, fmt.Errorf("build: %w", err)
	}
	if bd.ID == 0 {
		return Build{}, fmt.Errorf("build %s:%s: no number", bd.Source, bd.Name)
	}
	return bd, nil
}
