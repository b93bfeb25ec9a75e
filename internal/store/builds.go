package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
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
// and the new build keys are written in one transaction per batch, which loses (and is
// retried) when another collector numbered builds at the same time.
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

func (s *Store) numberBatch(ctx context.Context, batch []Build) ([]KV, error) {
	counterKey := s.prefix + buildCounter
	for attempt := 0; attempt < 20; attempt++ {
		// Read the counter and the builds at one revision.
		ops := []clientv3.Op{clientv3.OpGet(counterKey)}
		for _, b := range batch {
			ops = append(ops, clientv3.OpGet(s.Key(KindBuild, b.Key())))
		}
		resp, err := s.commit(ctx, func(t clientv3.Txn) clientv3.Txn { return t.Then(ops...) })
		if err != nil {
			return nil, err
		}
		var next uint64
		var counterRev int64
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
			if next, err = strconv.ParseUint(string(kvs[0].Value), 10, 32); err != nil {
				return nil, fmt.Errorf("store: build counter %q: %w", kvs[0].Value, err)
			}
			counterRev = kvs[0].ModRevision
		}
		var out []KV
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(counterKey), "=", counterRev)}
		var puts []clientv3.Op
		for i, b := range batch {
			key := s.Key(KindBuild, b.Key())
			if kvs := resp.Responses[i+1].GetResponseRange().Kvs; len(kvs) == 1 {
				out = append(out, KV{Key: key, Value: kvs[0].Value, ModRevision: kvs[0].ModRevision})
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
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(key), "=", 0))
			puts = append(puts, clientv3.OpPut(key, string(val)))
			out = append(out, KV{Key: key, Value: val})
		}
		if len(puts) == 0 {
			return out, nil
		}
		puts = append(puts, clientv3.OpPut(counterKey, strconv.FormatUint(next, 10)))
		tresp, err := s.commit(ctx, func(t clientv3.Txn) clientv3.Txn { return t.If(cmps...).Then(puts...) })
		if err != nil {
			return nil, err
		}
		if tresp.Succeeded {
			for i := range out {
				if out[i].ModRevision == 0 {
					out[i].ModRevision = tresp.Header.Revision
				}
			}
			return out, nil
		}
	}
	return nil, ErrConflict
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
