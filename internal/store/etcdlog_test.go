package store

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestEtcdLogRepeats sends etcd's warnings through the logger the embedded server gets: a
// message repeated within the interval is dropped and counted on its next line, other
// messages pass, and the quiet ones never do.
func TestEtcdLogRepeats(t *testing.T) {
	var buf bytes.Buffer
	zl := zapToSlog(slog.New(slog.NewTextHandler(&buf, nil))).With(zap.String("member", "onus"))
	for range 20 {
		zl.Warn("failed to apply request", zap.Error(errString("etcdserver: no space")))
	}
	zl.Warn("message exceeded backend quota; raising alarm")
	zl.Info("chatty info")
	zl.Warn("listener closed", zap.Error(errString("use of closed network connection")))
	out := buf.String()
	if n := strings.Count(out, "failed to apply request"); n != 1 {
		t.Errorf("%d lines of a warning repeated 20 times:\n%s", n, out)
	}
	if !strings.Contains(out, "raising alarm") || strings.Contains(out, "chatty") || strings.Contains(out, "listener closed") {
		t.Errorf("log:\n%s", out)
	}
	// After the interval the message passes again, with the count of the dropped ones.
	r := &repeats{}
	t0 := time.Now()
	r.pass("m", t0)
	r.pass("m", t0.Add(time.Second))
	r.pass("m", t0.Add(2*time.Second))
	if n, ok := r.pass("m", t0.Add(repeatEvery)); !ok || n != 2 {
		t.Errorf("after the interval: %d, %v; want 2, true", n, ok)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
