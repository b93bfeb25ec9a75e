package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
)

func TestStoreFailure(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		reason string // "" for no answer
		retry  time.Duration
		msg    string
	}{
		{"nothing", nil, "", 0, ""},
		{"the client went away", context.Canceled, "", 0, ""},
		{"no space", fmt.Errorf("%w: %w", store.ErrNoSpace, rpctypes.ErrNoSpace), ReasonNoSpace, 60 * time.Second, "NOSPACE"},
		{"no leader", fmt.Errorf("%w: %w", store.ErrUnavailable, rpctypes.ErrNoLeader), ReasonUnavailable, 10 * time.Second, "cannot take writes"},
		{"past the deadline", fmt.Errorf("%w: %w", store.ErrUnavailable, context.DeadlineExceeded), ReasonUnavailable, 10 * time.Second, "cannot take writes"},
		{"cancelled by the deadline", fmt.Errorf("%w: %w", store.ErrUnavailable, context.Canceled), ReasonUnavailable, 10 * time.Second, "cannot take writes"},
		{"anything else", errors.New("etcdserver: request is too large"), ReasonOther, 10 * time.Second, "store unavailable (write host)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			se := StoreFailure("write host", tc.err)
			if tc.reason == "" {
				if se != nil {
					t.Fatalf("answer %v, want none", se)
				}
				return
			}
			if se == nil || se.Reason != tc.reason || se.RetryAfter != tc.retry || !strings.Contains(se.Answer.Msg, tc.msg) {
				t.Fatalf("StoreFailure = %+v", se)
			}
			var pe *protocol.Error
			if !errors.As(se, &pe) || pe.Status != http.StatusServiceUnavailable || pe.Msg != se.Answer.Msg {
				t.Errorf("answer: %+v", pe)
			}
			// The log line names the etcd error; the answer does not.
			if !errors.Is(se, tc.err) || !strings.Contains(se.Error(), tc.err.Error()) || strings.Contains(pe.Msg, tc.err.Error()) {
				t.Errorf("error %q, answer %q", se.Error(), pe.Msg)
			}
		})
	}
}
