// Package bg runs a test's long-lived parts (a collector, an agent) in the background and
// stops them when the test ends.
package bg

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Task is a function running in the background until Stop.
type Task struct {
	t      testing.TB
	what   string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// Go runs run in the background with a context that Stop (or the end of the test) cancels.
func Go(t testing.TB, what string, run func(context.Context) error) *Task {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	k := &Task{t: t, what: what, cancel: cancel, done: make(chan error, 1)}
	go func() { k.done <- run(ctx) }()
	t.Cleanup(k.Stop)
	return k
}

// Wait waits until ready is closed; it fails the test when the task returns first or after
// timeout.
func (k *Task) Wait(ready <-chan struct{}, timeout time.Duration) {
	k.t.Helper()
	select {
	case <-ready:
	case err := <-k.done:
		k.done <- err
		k.t.Fatalf("%s stopped before it was ready: %v", k.what, err)
	case <-time.After(timeout):
		k.t.Fatalf("%s not ready after %s", k.what, timeout)
	}
}

// Stop cancels the task and waits for it to return; an error it returns fails the test.
// Only the first call does anything.
func (k *Task) Stop() {
	k.once.Do(func() {
		k.cancel()
		if err := <-k.done; err != nil {
			k.t.Errorf("%s: %v", k.what, err)
		}
	})
}
