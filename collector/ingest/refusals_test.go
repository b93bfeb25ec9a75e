package ingest

import (
	"net/http"
	"testing"

	"github.com/onus-project/onus/internal/protocol"
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
