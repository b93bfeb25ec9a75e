package protocol

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/model"
)

// goldenNames are the fixture hosts whose full inventories the agent's golden tests keep.
var goldenNames = []string{"alpine3", "arch", "centos7", "debian12", "distroless", "opensuse15", "rocky9"}

// cloneJSON returns a deep copy of v made by encoding and decoding it.
func cloneJSON[T any](tb testing.TB, v *T) *T {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	var c T
	if err := json.Unmarshal(b, &c); err != nil {
		tb.Fatal(err)
	}
	return &c
}

// mustJSON encodes v, to compare values whose times may differ only in location.
func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// reportFor builds a valid full report of an inventory, with the install events of all its
// packages.
func reportFor(tb testing.TB, inv *model.Inventory) *Report {
	tb.Helper()
	st, c := FromInventory(inv)
	return &Report{
		HostID:       st.Host.ID,
		Seq:          1,
		Kind:         KindFull,
		SentAt:       time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC),
		AgentVersion: "0.1.0",
		Hash:         Hash(&st),
		State:        &st,
		Capacity:     c,
		Events:       Events(&State{}, &st, c.CollectedAt),
	}
}

// asError returns the *Error err is or wraps, failing the test when there is none.
func asError(tb testing.TB, err error) *Error {
	tb.Helper()
	var e *Error
	if !errors.As(err, &e) {
		tb.Fatalf("error %v (%T) is not a *protocol.Error", err, err)
	}
	return e
}
