package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
)

// Store failure reasons, the reason label of onus_collector_store_errors_total.
const (
	ReasonUnavailable = "unavailable" // no quorum, no member answers, a request past its deadline
	ReasonNoSpace     = "nospace"     // etcd's NOSPACE alarm: the backend is at its quota
	ReasonOther       = "other"
)

// How long agents are asked to wait: a lost quorum often returns within seconds (a leader
// election, a restarted member); a full store needs an operator.
const (
	retryUnavailable = 10 * time.Second
	retryNoSpace     = 60 * time.Second
)

// StoreError is a store failure as a request's answer: a 503 whose message says what the
// store cannot do (Answer, what the client sees), the etcd error behind it (for the log), and
// how long the client should wait before trying again (the Retry-After header).
type StoreError struct {
	Op         string
	Reason     string
	Err        error
	Answer     *protocol.Error
	RetryAfter time.Duration
}

func (e *StoreError) Error() string { return fmt.Sprintf("%s (%s: %v)", e.Answer.Msg, e.Op, e.Err) }

// Unwrap gives errors.As the answer and errors.Is the etcd error.
func (e *StoreError) Unwrap() []error { return []error{e.Answer, e.Err} }

// StoreFailure classifies a failure of the store during op; it returns nil for nil and for
// the request's own cancellation (the client is gone: nobody to answer).
func StoreFailure(op string, err error) *StoreError {
	if err == nil || (errors.Is(err, context.Canceled) && !errors.Is(err, store.ErrUnavailable)) {
		return nil
	}
	se := &StoreError{Op: op, Err: err}
	switch {
	case errors.Is(err, store.ErrNoSpace):
		se.Reason, se.RetryAfter = ReasonNoSpace, retryNoSpace
		se.Answer = protocol.Errorf(http.StatusServiceUnavailable,
			"store out of space (etcd NOSPACE alarm): it takes no writes until an operator frees space; try again later")
	case errors.Is(err, store.ErrUnavailable):
		se.Reason, se.RetryAfter = ReasonUnavailable, retryUnavailable
		se.Answer = protocol.Errorf(http.StatusServiceUnavailable,
			"store cannot take writes now (no etcd quorum, or no answer within the deadline): try again later")
	default:
		se.Reason, se.RetryAfter = ReasonOther, retryUnavailable
		se.Answer = protocol.Errorf(http.StatusServiceUnavailable, "store unavailable (%s): try again later", op)
	}
	return se
}

// storeErr turns a store failure into a 503 the agent retries later, and counts it. It
// does not log: the request's one log line (the API's) carries the etcd error.
func (g *Ingest) storeErr(what string, err error) error {
	se := StoreFailure(what, err)
	if se == nil {
		return err
	}
	g.m.storeErrors.WithLabelValues(se.Reason).Inc()
	return se
}
