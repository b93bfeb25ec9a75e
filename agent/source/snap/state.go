package snap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Revision is a snap revision as snapd keeps it: a store revision (1234) is positive, a
// local one, installed from a file with --dangerous, negative and written x1.
type Revision int64

// String returns the revision as snapd writes it in paths: "1234", "x1".
func (r Revision) String() string {
	if r < 0 {
		return "x" + strconv.FormatInt(-int64(r), 10)
	}
	return strconv.FormatInt(int64(r), 10)
}

// UnmarshalJSON reads a revision as any snapd wrote it: a number (older snapd) or a string,
// "1234" or "x1".
func (r *Revision) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
		if len(s) > 1 && s[0] == 'x' {
			n, err := strconv.ParseInt(s[1:], 10, 32)
			if err != nil || n <= 0 {
				return fmt.Errorf("invalid snap revision %q", b)
			}
			*r = Revision(-n)
			return nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return fmt.Errorf("invalid snap revision %q", b)
	}
	*r = Revision(n)
	return nil
}

// SideInfo is one revision of a snap's sequence in state.json: what snapd knows of it from
// the store (snap.SideInfo).
type SideInfo struct {
	Name     string   `json:"name"`
	SnapID   string   `json:"snap-id"`
	Revision Revision `json:"revision"`
	Channel  string   `json:"channel"` // the channel this revision came from
	Summary  string   `json:"summary"` // the store's, when edited there
	Title    string   `json:"title"`
}

// State is one snap of state.json's data.snaps (snapstate.SnapState): the revisions it keeps
// (its sequence, the current one included), which is current, whether it is enabled, the
// channel it tracks and the flags it was installed with.
type State struct {
	Instance        string     `json:"-"` // the key of data.snaps: the name, with an instance key for a parallel install
	Type            string     `json:"type"`
	Sequence        []SideInfo `json:"sequence"`
	Active          bool       `json:"active"`
	Current         Revision   `json:"current"`
	TrackingChannel string     `json:"channel"`
	InstanceKey     string     `json:"instance-key"`
	DevMode         bool       `json:"devmode"`
	JailMode        bool       `json:"jailmode"`
	Classic         bool       `json:"classic"`
	TryMode         bool       `json:"trymode"`
	Base            string     `json:"base"`
	LastRefresh     *time.Time `json:"last-refresh-time"`
}

// CurrentInfo returns the side information of the current revision: the last entry of the
// sequence with that revision, as snapd looks it up.
func (s *State) CurrentInfo() (SideInfo, bool) {
	for i := len(s.Sequence) - 1; i >= 0; i-- {
		if s.Sequence[i].Revision == s.Current {
			return s.Sequence[i], true
		}
	}
	return SideInfo{}, false
}

// ErrState is wrapped by every error of DecodeState: the state file is not snapd's.
var ErrState = errors.New("not a snapd state file")

// DecodeState reads snapd's state file, {"data": {"snaps": {"<instance name>": {...}, ...},
// ...}, "changes": ..., "tasks": ...}, from r and calls fn with each snap of data.snaps, at
// most max of them (the rest are counted in more). Only data.snaps is decoded: the other
// values of data are skipped, and reading stops once data has been read (snapd writes it
// first; the changes and tasks after it are the bulk of the file). A snap whose value is
// not an object of the expected types is passed to fn with ok false. An error means the file
// is not a JSON object of that shape, or is cut short before data ends.
func DecodeState(r io.Reader, max int, fn func(s State, ok bool)) (more int, err error) {
	dec := json.NewDecoder(r)
	wrap := func(err error) error {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("%w: %w", ErrState, err)
	}
	if err := openObject(dec); err != nil {
		return 0, wrap(err)
	}
	for dec.More() {
		key, err := objectKey(dec)
		if err != nil {
			return 0, wrap(err)
		}
		if key != "data" {
			if err := skipValue(dec); err != nil {
				return 0, wrap(err)
			}
			continue
		}
		more, err := decodeData(dec, max, fn)
		if err != nil {
			return more, wrap(err)
		}
		return more, nil
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return 0, wrap(err)
	}
	return 0, nil
}

// decodeData reads the data object, its snaps passed to fn.
func decodeData(dec *json.Decoder, max int, fn func(State, bool)) (more int, err error) {
	if err := openObject(dec); err != nil {
		return 0, err
	}
	for dec.More() {
		key, err := objectKey(dec)
		if err != nil {
			return more, err
		}
		if key != "snaps" {
			if err := skipValue(dec); err != nil {
				return more, err
			}
			continue
		}
		if err := openObject(dec); err != nil {
			return more, err
		}
		n := 0
		for dec.More() {
			name, err := objectKey(dec)
			if err != nil {
				return more, err
			}
			if n >= max {
				more++
				if err := skipValue(dec); err != nil {
					return more, err
				}
				continue
			}
			n++
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return more, err
			}
			var s State
			ok := json.Unmarshal(raw, &s) == nil && bytes.HasPrefix(raw, []byte("{"))
			s.Instance = name
			fn(s, ok)
		}
		if _, err := dec.Token(); err != nil {
			return more, err
		}
	}
	_, err = dec.Token()
	return more, err
}

func openObject(dec *json.Decoder) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t != json.Delim('{') {
		return fmt.Errorf("%v where an object opens", t)
	}
	return nil
}

func objectKey(dec *json.Decoder) (string, error) {
	t, err := dec.Token()
	if err != nil {
		return "", err
	}
	k, ok := t.(string)
	if !ok {
		return "", fmt.Errorf("%v where a key is", t)
	}
	return k, nil
}

// skipValue reads past one value, checked for syntax, without keeping it.
func skipValue(dec *json.Decoder) error {
	var v skipped
	return dec.Decode(&v)
}

// skipped is a value read and dropped.
type skipped struct{}

func (*skipped) UnmarshalJSON([]byte) error { return nil }
