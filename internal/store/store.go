// Package store keeps Onus's fleet data in etcd: enrolled agents, one compact inventory
// record per host, the fleet-wide catalog of software titles, and host liveness and capacity
// in a fixed number of shards.
//
// Key layout under the prefix (default "/onus/"):
//
//	schema                   the schema version ("1")
//	agents/<host id>         the agent's credential hash and enrollment time (JSON)
//	hosts/<host id>          the host's inventory record (columnar, gzip; see EncodeHost)
//	builds/<hash>            a package build (source, name, arch, version) and its number
//	counters/builds          the highest build number handed out
//	titles/<source>/<name>   a software title: first seen in the fleet, descriptive fields (JSON)
//	status/<00..ff>          last seen and capacity of the hosts whose ID hashes to the shard (gzip JSON)
//	enrollments/<host id>/<id>  an enrollment of an enrolled host ID awaiting an admin's decision (JSON, leased)
//
// A host record is written only when the host's inventory changes; heartbeats update the
// status shards, which the collector flushes in batches, so the write rate does not grow with
// the report rate. Every write is a compare-and-swap on the key's ModRevision (or absence),
// and every list is paged and pinned to one revision.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// SchemaVersion is the version of the key layout and record encodings this release writes.
const SchemaVersion = "1"

// DefaultPrefix is where Onus keeps its keys unless configured otherwise.
const DefaultPrefix = "/onus/"

// ErrConflict means a compare-and-swap lost: the key changed since it was read.
var ErrConflict = errors.New("store: concurrent update")

// ErrSchema means the store holds data of a schema this release does not know.
var ErrSchema = errors.New("store: unsupported schema version")

// Kinds of keys.
const (
	KindAgent  = "agents"
	KindHost   = "hosts"
	KindTitle  = "titles"
	KindStatus = "status"
)

// maxTxnOps stays under etcd's default of 128 operations per transaction.
const maxTxnOps = 100

// Store reads and writes Onus's keys through an etcd client.
type Store struct {
	cli    *clientv3.Client
	prefix string
	// numbering serializes this process's build numbering: concurrent batches would all
	// race for the one counter key and retry each other out.
	numbering sync.Mutex
	// timeout bounds each request (see SetTimeout).
	timeout time.Duration
}

// New returns a Store using the keys under prefix ("" means DefaultPrefix).
func New(cli *clientv3.Client, prefix string) (*Store, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("store prefix %q must end in /", prefix)
	}
	return &Store{cli: cli, prefix: prefix, timeout: DefaultTimeout}, nil
}

// Client returns the etcd client.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Prefix returns the key prefix.
func (s *Store) Prefix() string { return s.prefix }

// Key returns the full key of an item of a kind.
func (s *Store) Key(kind, name string) string { return s.prefix + kind + "/" + name }

// Split parses a full key into its kind and name; ok is false for keys outside the layout.
func (s *Store) Split(key string) (kind, name string, ok bool) {
	rest, found := strings.CutPrefix(key, s.prefix)
	if !found {
		return "", "", false
	}
	kind, name, ok = strings.Cut(rest, "/")
	return kind, name, ok && name != ""
}

// EnsureSchema writes the schema version key if the store is new, and fails with ErrSchema
// when it holds another version.
func (s *Store) EnsureSchema(ctx context.Context) error {
	key := s.prefix + "schema"
	resp, err := s.commit(ctx, func(t clientv3.Txn) clientv3.Txn {
		return t.If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, SchemaVersion)).
			Else(clientv3.OpGet(key))
	})
	if err != nil {
		return fmt.Errorf("store: schema: %w", err)
	}
	if resp.Succeeded {
		return nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 1 && string(kvs[0].Value) == SchemaVersion {
		return nil
	}
	got := ""
	if len(kvs) == 1 {
		got = string(kvs[0].Value)
	}
	return fmt.Errorf("%w: the store at %s holds schema %q, this release reads %q", ErrSchema, key, got, SchemaVersion)
}

// KV is one key and value with its revisions.
type KV struct {
	Key         string
	Value       []byte
	ModRevision int64
}

// List calls fn for every key under the prefix, in pages of pageSize keys, all read at one
// revision, which it returns (the revision to watch from, minus one).
func (s *Store) List(ctx context.Context, pageSize int64, fn func(KV) error) (int64, error) {
	if pageSize <= 0 {
		pageSize = 500
	}
	end := clientv3.GetPrefixRangeEnd(s.prefix)
	key := s.prefix
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(pageSize)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.get(ctx, key, opts...)
		if err != nil {
			return 0, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			if err := fn(KV{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision}); err != nil {
				return 0, err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Get reads one key; a missing key gives a nil value and revision 0.
func (s *Store) Get(ctx context.Context, kind, name string) (KV, error) {
	resp, err := s.get(ctx, s.Key(kind, name))
	if err != nil {
		return KV{}, err
	}
	if len(resp.Kvs) == 0 {
		return KV{Key: s.Key(kind, name)}, nil
	}
	kv := resp.Kvs[0]
	return KV{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision}, nil
}

// Put writes a key if its ModRevision is still modRev (0: if it does not exist). It returns
// the new ModRevision, or ErrConflict.
func (s *Store) Put(ctx context.Context, kind, name string, value []byte, modRev int64) (int64, error) {
	key := s.Key(kind, name)
	resp, err := s.commit(ctx, func(t clientv3.Txn) clientv3.Txn {
		return t.If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).Then(clientv3.OpPut(key, string(value)))
	})
	if err != nil {
		return 0, err
	}
	if !resp.Succeeded {
		return 0, ErrConflict
	}
	return resp.Header.Revision, nil
}

// Delete removes keys of one host (its agent, host record) if their ModRevisions still
// match (0 for keys that are known to be absent are skipped).
func (s *Store) Delete(ctx context.Context, items map[string]int64) error {
	var cmps []clientv3.Cmp
	var ops []clientv3.Op
	for key, rev := range items {
		if rev == 0 {
			continue
		}
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", rev))
		ops = append(ops, clientv3.OpDelete(key))
	}
	if len(ops) == 0 {
		return nil
	}
	resp, err := s.commit(ctx, func(t clientv3.Txn) clientv3.Txn { return t.If(cmps...).Then(ops...) })
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return ErrConflict
	}
	return nil
}

// CreateAll writes every absent key of values (name → value) of one kind and leaves
// existing ones alone, in transactions of at most maxTxnOps keys. It returns the names it
// created.
func (s *Store) CreateAll(ctx context.Context, kind string, values map[string][]byte) ([]string, error) {
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	var created []string
	for len(names) > 0 {
		batch := names[:min(len(names), maxTxnOps)]
		names = names[len(batch):]
		// One transaction per batch: if any key exists, fall back to asking which ones.
		for len(batch) > 0 {
			cmps := make([]clientv3.Cmp, len(batch))
			ops := make([]clientv3.Op, len(batch))
			for i, n := range batch {
				key := s.Key(kind, n)
				cmps[i] = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
				ops[i] = clientv3.OpPut(key, string(values[n]))
			}
			resp, err := s.commit(ctx, func(t clientv3.Txn) clientv3.Txn { return t.If(cmps...).Then(ops...) })
			if err != nil {
				return created, err
			}
			if resp.Succeeded {
				created = append(created, batch...)
				break
			}
			// Some exist: ask which, in one read-only transaction.
			gets := make([]clientv3.Op, len(batch))
			for i, n := range batch {
				gets[i] = clientv3.OpGet(s.Key(kind, n), clientv3.WithCountOnly())
			}
			gresp, err := s.commit(ctx, func(t clientv3.Txn) clientv3.Txn { return t.Then(gets...) })
			if err != nil {
				return created, err
			}
			var absent []string
			for i, n := range batch {
				if gresp.Responses[i].GetResponseRange().Count == 0 {
					absent = append(absent, n)
				}
			}
			batch = absent
		}
	}
	return created, nil
}

// Event is one change seen by Watch.
type Event struct {
	KV
	Deleted bool
}

// ErrCompacted means a watch started at a revision etcd has compacted away: list again.
var ErrCompacted = errors.New("store: watch revision compacted")

// Watch calls fn for every change under the prefix from revision rev on, with the revision
// of each response once its events are applied (progress notifications included, so the
// caller's revision keeps up while nothing changes). It returns when ctx ends, on
// ErrCompacted, or when fn fails.
func (s *Store) Watch(ctx context.Context, rev int64, fn func(evs []Event, rev int64) error) error {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wc := s.cli.Watch(ctx, s.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev), clientv3.WithProgressNotify())
	for resp := range wc {
		if resp.CompactRevision > 0 {
			return fmt.Errorf("%w (at %d)", ErrCompacted, resp.CompactRevision)
		}
		if err := resp.Err(); err != nil {
			return classify(ctx, err)
		}
		evs := make([]Event, len(resp.Events))
		for i, ev := range resp.Events {
			evs[i] = Event{KV: KV{Key: string(ev.Kv.Key), Value: ev.Kv.Value, ModRevision: ev.Kv.ModRevision}, Deleted: ev.Type == clientv3.EventTypeDelete}
		}
		if err := fn(evs, resp.Header.Revision); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("store: watch closed")
}
