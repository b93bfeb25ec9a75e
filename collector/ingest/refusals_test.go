package ingest

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
)

func TestRefusalStatus(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		ok     bool
	}{
		{protocol.Errorf(http.StatusBadRequest, "hash"), 400, true},
		{protocol.Errorf(http.StatusForbidden, "another host"), 403, true},
		{protocol.Errorf(http.StatusRequestEntityTooLarge, "too large"), 413, true},
		{protocol.Errorf(http.StatusUnsupportedMediaType, "br"), 415, true},
		{protocol.Errorf(http.StatusUnauthorized, "unknown credential"), 0, false},
		{protocol.Errorf(http.StatusRequestTimeout, "slow body"), 0, false},
		{protocol.Errorf(http.StatusTooManyRequests, "busy"), 0, false},
		{protocol.Errorf(http.StatusServiceUnavailable, "store"), 0, false},
		{http.ErrBodyNotAllowed, 0, false},
		{nil, 0, false},
	} {
		if status, ok := refusalStatus(tc.err); status != tc.status || ok != tc.ok {
			t.Errorf("refusalStatus(%v) = %d, %v; want %d, %v", tc.err, status, ok, tc.status, tc.ok)
		}
	}
}

func TestMergeStatus(t *testing.T) {
	at := func(s int) time.Time { return time.Date(2026, 12, 7, 12, 0, s, 0, time.UTC) }
	ref := func(since, last int) *store.Refusal {
		return &store.Refusal{At: at(last), Since: at(since), Status: 400, Reason: fmt.Sprintf("refused at %d", last)}
	}
	seen := func(s int, r *store.Refusal) store.HostStatus {
		return store.HostStatus{LastSeen: at(s), Seq: uint64(s), Refused: r}
	}
	for _, tc := range []struct {
		name          string
		held, pending store.HostStatus
		want          store.HostStatus
		differs       bool
	}{
		{"accepted later", seen(10, nil), seen(20, nil), seen(20, nil), true},
		{"accepted earlier elsewhere", seen(20, nil), seen(10, nil), seen(20, nil), false},
		{"refused here", seen(10, nil), seen(10, ref(15, 15)), seen(10, ref(15, 15)), true},
		{"refused here, accepted elsewhere before", seen(12, nil), seen(10, ref(15, 15)), seen(12, ref(15, 15)), true},
		{"refused here, accepted elsewhere after", seen(20, nil), seen(10, ref(15, 15)), seen(20, nil), false},
		{"accepted here after a refusal", seen(10, ref(15, 15)), seen(20, nil), seen(20, nil), true},
		{"accepted here in the refusal's second", seen(10, ref(15, 15)), seen(15, nil), seen(15, nil), true},
		{"accepted here before a refusal elsewhere", seen(10, ref(15, 25)), seen(20, nil), seen(20, ref(15, 25)), true},
		{"same episode, refused here later", seen(10, ref(15, 20)), seen(10, ref(18, 30)), seen(10, &store.Refusal{At: at(30), Since: at(15), Status: 400, Reason: "refused at 30"}), true},
		{"same episode, refused elsewhere later", seen(10, ref(15, 30)), seen(10, ref(18, 20)), seen(10, &store.Refusal{At: at(30), Since: at(15), Status: 400, Reason: "refused at 30"}), true},
		{"nothing new", seen(10, ref(15, 15)), seen(10, ref(15, 15)), seen(10, ref(15, 15)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, differs := mergeStatus(tc.held, tc.pending)
			if !got.LastSeen.Equal(tc.want.LastSeen) || got.Seq != tc.want.Seq || (got.Refused == nil) != (tc.want.Refused == nil) ||
				got.Refused != nil && *got.Refused != *tc.want.Refused || differs != tc.differs {
				t.Errorf("mergeStatus = %+v %+v, %v; want %+v %+v, %v", got, got.Refused, differs, tc.want, tc.want.Refused, tc.differs)
			}
		})
	}
}
