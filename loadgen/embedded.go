package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/onus-project/onus/collector/app"
	"github.com/onus-project/onus/internal/store"
)

// EmbeddedOptions configure a collector run in this process.
type EmbeddedOptions struct {
	// Dir holds the collector's data (etcd under Dir/etcd).
	Dir string
	// StatusFlushInterval and MaxConcurrentReports are the collector's (its defaults when
	// zero).
	StatusFlushInterval  time.Duration
	MaxConcurrentReports int
	Logger               *slog.Logger
}

// Embedded is a collector with embedded etcd running in this process, on plain HTTP on
// 127.0.0.1 with a random port and generated secrets.
type Embedded struct {
	URL          string
	EnrollSecret string
	AdminToken   string
	Dir          string

	c      *app.Collector
	cancel context.CancelFunc
	done   chan error
}

// StartEmbedded starts a collector and waits until it is ready.
func StartEmbedded(ctx context.Context, opts EmbeddedOptions) (*Embedded, error) {
	if opts.Dir == "" {
		return nil, errors.New("loadgen: no data directory for the embedded collector")
	}
	e := &Embedded{EnrollSecret: secret(), AdminToken: secret(), Dir: opts.Dir, done: make(chan error, 1)}
	c, err := app.New(app.Options{ListenAddress: "127.0.0.1:0", InsecureHTTP: true, DataDir: opts.Dir,
		EnrollSecret: e.EnrollSecret, AdminToken: e.AdminToken, StatusFlushInterval: opts.StatusFlushInterval,
		MaxConcurrentReports: opts.MaxConcurrentReports, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	e.c = c
	runCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- c.Run(runCtx) }()
	select {
	case <-c.Listening():
	case err := <-e.done:
		cancel()
		return nil, fmt.Errorf("loadgen: embedded collector: %w", err)
	case <-ctx.Done():
		e.Stop()
		return nil, ctx.Err()
	}
	ready := c.Ready()
	select {
	case <-ready:
	case <-time.After(2 * time.Minute):
		e.Stop()
		return nil, errors.New("loadgen: embedded collector not ready after 2 minutes")
	case <-ctx.Done():
		e.Stop()
		return nil, ctx.Err()
	}
	e.URL = "http://" + c.Addr()
	return e, nil
}

// Stop stops the collector and waits until it has.
func (e *Embedded) Stop() error {
	e.cancel()
	return <-e.done
}

func secret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Figures measures the process and the store: RSS, the etcd files, and the keys by kind.
func (e *Embedded) Figures(ctx context.Context) *EmbeddedFigures {
	f := &EmbeddedFigures{Dir: e.Dir}
	f.RSSBytes, f.PeakRSSBytes = processRSS()
	member := filepath.Join(e.Dir, "etcd", "member")
	if st, err := os.Stat(filepath.Join(member, "snap", "db")); err == nil {
		f.DBFileBytes = st.Size()
	}
	_ = filepath.WalkDir(filepath.Join(member, "wal"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				f.WALBytes += info.Size()
			}
		}
		return nil
	})
	if keys, err := e.keyUsage(ctx); err == nil {
		f.Keys = keys
	}
	return f
}

// keyUsage lists the store's keys through etcd's client API.
func (e *Embedded) keyUsage(ctx context.Context) (map[string]KeyUsage, error) {
	ep := e.c.EtcdEndpoint()
	if ep == "" {
		return nil, errors.New("no etcd endpoint")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, MaxCallRecvMsgSize: 64 << 20})
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	st, err := store.New(cli, store.DefaultPrefix)
	if err != nil {
		return nil, err
	}
	out := map[string]KeyUsage{}
	_, err = st.List(ctx, 200, func(kv store.KV) error {
		kind, _, ok := st.Split(kv.Key)
		if !ok {
			kind = strings.TrimPrefix(kv.Key, store.DefaultPrefix)
		}
		u := out[kind]
		u.Count++
		u.ValueBytes += int64(len(kv.Value))
		u.MaxBytes = max(u.MaxBytes, int64(len(kv.Value)))
		out[kind] = u
		return nil
	})
	return out, err
}

// processRSS returns this process's resident set size and its peak (Linux; zeros
// elsewhere).
func processRSS() (rss, peak uint64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	rss, peak, _ = parseStatus(string(b))
	return rss, peak
}
