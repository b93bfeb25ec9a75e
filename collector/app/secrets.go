package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/collector/ingest"
)

// DefaultEnrollSecretCheckInterval is how often the enroll secrets file's modification time
// is checked.
const DefaultEnrollSecretCheckInterval = 5 * time.Second

// readEnrollSecrets reads and checks an enroll secrets file (see ingest.ParseEnrollSecrets).
// The file's info comes back whenever the file could be opened, with a bad content too.
func readEnrollSecrets(path string) ([]string, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("--enroll-secret-file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("--enroll-secret-file: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(f, ingest.MaxSecretsSize+1))
	if err != nil {
		return nil, info, fmt.Errorf("--enroll-secret-file: %w", err)
	}
	secrets, err := ingest.ParseEnrollSecrets(b)
	if err != nil {
		return nil, info, fmt.Errorf("--enroll-secret-file: %s: %w", path, err)
	}
	return secrets, info, nil
}

// secretsWatcher re-reads the enroll secrets file on SIGHUP and when it changes (checked
// every interval), and hands the secrets to ingest. A bad file keeps the previous secrets.
type secretsWatcher struct {
	c        *Collector
	ing      *ingest.Ingest
	info     os.FileInfo
	hup      chan os.Signal
	count    prometheus.Gauge
	success  prometheus.Gauge
	reloaded prometheus.Gauge
}

func newSecretsWatcher(c *Collector, ing *ingest.Ingest, reg prometheus.Registerer) (*secretsWatcher, error) {
	w := &secretsWatcher{c: c, ing: ing, info: c.secretsInfo,
		count: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "onus", Subsystem: "collector", Name: "enroll_secrets",
			Help: "Enroll secrets accepted, from --enroll-secret-file."}),
		success: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "onus", Subsystem: "collector", Name: "enroll_secrets_reload_success",
			Help: "1 when the last read of --enroll-secret-file succeeded, 0 when it failed and the previous secrets stay in effect."}),
		reloaded: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "onus", Subsystem: "collector", Name: "enroll_secrets_reload_timestamp_seconds",
			Help: "When the enroll secrets were last read successfully."}),
	}
	for _, m := range []prometheus.Collector{w.count, w.success, w.reloaded} {
		if err := reg.Register(m); err != nil {
			return nil, err
		}
	}
	w.count.Set(float64(ing.EnrollSecrets()))
	w.success.Set(1)
	w.reloaded.SetToCurrentTime()
	// Listen for SIGHUP from here on, before the collector reports listening.
	w.hup = make(chan os.Signal, 1)
	signal.Notify(w.hup, syscall.SIGHUP)
	return w, nil
}

// stop stops listening for SIGHUP.
func (w *secretsWatcher) stop() { signal.Stop(w.hup) }

// run watches until ctx ends.
func (w *secretsWatcher) run(ctx context.Context) {
	interval := w.c.opts.EnrollSecretCheckInterval
	if interval <= 0 {
		interval = DefaultEnrollSecretCheckInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.hup:
			w.reload("SIGHUP")
		case <-tick.C:
			info, err := os.Stat(w.c.opts.EnrollSecretFile)
			if err != nil {
				if w.info != nil {
					w.c.log.Error("enroll secrets file unreadable; the previous secrets stay in effect", "file", w.c.opts.EnrollSecretFile, "err", err)
					w.success.Set(0)
					w.info = nil
				}
				continue
			}
			if w.info == nil || !os.SameFile(info, w.info) || !info.ModTime().Equal(w.info.ModTime()) || info.Size() != w.info.Size() {
				w.reload("file changed")
			}
		}
	}
}

func (w *secretsWatcher) reload(why string) {
	secrets, info, err := readEnrollSecrets(w.c.opts.EnrollSecretFile)
	// A bad file is read again once it changes (or on SIGHUP); an unreadable one (info nil)
	// at the next check.
	w.info = info
	if err != nil {
		w.c.log.Error("enroll secrets not reloaded; the previous secrets stay in effect", "reason", why, "err", err)
		w.success.Set(0)
		return
	}
	before := w.ing.EnrollSecrets()
	w.ing.SetEnrollSecrets(secrets)
	w.count.Set(float64(len(secrets)))
	w.success.Set(1)
	w.reloaded.SetToCurrentTime()
	w.c.log.Info("enroll secrets reloaded", "reason", why, "file", w.c.opts.EnrollSecretFile, "secrets", len(secrets), "before", before)
}
