package flatpak

import (
	"encoding/binary"
	"errors"
	"time"
)

// Deploy is flatpak's deploy data, the file "deploy" in each deployed commit's directory: a
// GVariant of type (ssasta{sv}) (FLATPAK_DEPLOY_DATA_GVARIANT_FORMAT): the remote it came
// from, the commit, the subpaths installed (empty for all), the installed size and a
// dictionary of metadata: "runtime", "timestamp", "appdata-name", "appdata-summary",
// "appdata-version", "appdata-license", "eol", "eolr", "extension-of"...
type Deploy struct {
	Origin, Commit string
	Subpaths       []string
	InstalledSize  uint64
	// Strings holds the metadata of type s; Timestamp is "timestamp" (t, seconds), when the
	// deployment was made.
	Strings   map[string]string
	Timestamp time.Time
}

// Bounds of the deploy data reader: flatpak writes a few hundred bytes.
const (
	MaxDeploy   = 64 << 10
	maxElements = 256
)

var errGVariant = errors.New("deploy data: not a (ssasta{sv}) GVariant")

// ParseDeploy reads deploy data serialized as GVariant does on a little-endian host: each
// member aligned to its type's alignment, the end offsets of every variable-sized member but
// the last stored after them (in reverse order) in as many bytes as the container's size
// needs (1 below 256 bytes, 2 below 64 KiB, 4, 8). flatpak stores the installed size big
// endian (GUINT64_TO_BE). Anything that does not frame as that type is an error; metadata
// of other types than s and t is ignored.
func ParseDeploy(b []byte) (Deploy, error) {
	var d Deploy
	if len(b) > MaxDeploy {
		return d, errGVariant
	}
	n := offsetSize(len(b))
	if len(b) < 3*n {
		return d, errGVariant
	}
	end := len(b) - 3*n
	e1, e2, e3 := offset(b, len(b)-n, n), offset(b, len(b)-2*n, n), offset(b, len(b)-3*n, n)
	if !(e1 <= e2 && e2 <= e3 && e3 <= end) {
		return d, errGVariant
	}
	var ok bool
	if d.Origin, ok = gString(b[:e1]); !ok {
		return d, errGVariant
	}
	if d.Commit, ok = gString(b[e1:e2]); !ok {
		return d, errGVariant
	}
	if d.Subpaths, ok = gStrings(b[e2:e3]); !ok {
		return d, errGVariant
	}
	t := align(e3, 8)
	if t+8 > end {
		return d, errGVariant
	}
	d.InstalledSize = binary.BigEndian.Uint64(b[t : t+8])
	if align(t+8, 8) > end {
		return d, errGVariant
	}
	if d.Strings, d.Timestamp, ok = gMetadata(b[align(t+8, 8):end]); !ok {
		return d, errGVariant
	}
	return d, nil
}

// gMetadata reads an a{sv}: an array of dictionary entries, each 8-aligned, their end
// offsets after them.
func gMetadata(b []byte) (map[string]string, time.Time, bool) {
	var ts time.Time
	out := map[string]string{}
	ok := eachElement(b, 8, func(e []byte) bool {
		n := offsetSize(len(e))
		if len(e) < n {
			return false
		}
		kend := offset(e, len(e)-n, n)
		if kend > len(e)-n {
			return false
		}
		key, ok := gString(e[:kend])
		vstart := align(kend, 8)
		if !ok || vstart > len(e)-n {
			return false
		}
		value, typ, ok := gVariant(e[vstart : len(e)-n])
		if !ok {
			return false
		}
		switch typ {
		case "s":
			if s, ok := gString(value); ok {
				out[key] = s
			}
		case "t":
			if key == "timestamp" && len(value) == 8 {
				if sec := binary.LittleEndian.Uint64(value); sec < 1<<40 {
					ts = time.Unix(int64(sec), 0).UTC()
				}
			}
		}
		return true
	})
	return out, ts, ok
}

// gVariant splits a serialized variant: its value, a zero byte and its type string.
func gVariant(b []byte) (value []byte, typ string, ok bool) {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == 0 {
			return b[:i], string(b[i+1:]), i+1 < len(b)
		}
	}
	return nil, "", false
}

// gStrings reads an as: strings, their end offsets after them.
func gStrings(b []byte) ([]string, bool) {
	var out []string
	ok := eachElement(b, 1, func(e []byte) bool {
		s, ok := gString(e)
		out = append(out, s)
		return ok
	})
	return out, ok
}

// eachElement calls fn with each element of an array of variable-sized elements of the
// given alignment, at most maxElements of them.
func eachElement(b []byte, alignment int, fn func([]byte) bool) bool {
	if len(b) == 0 {
		return true
	}
	n := offsetSize(len(b))
	if len(b) < n {
		return false
	}
	table := offset(b, len(b)-n, n)
	if table > len(b) || (len(b)-table)%n != 0 || (len(b)-table)/n > maxElements {
		return false
	}
	start := 0
	for i := table; i < len(b); i += n {
		end := offset(b, i, n)
		start = align(start, alignment)
		if start > end || end > table {
			return false
		}
		if !fn(b[start:end]) {
			return false
		}
		start = end
	}
	return true
}

// gString reads a string: its bytes and a zero byte ending them, none inside.
func gString(b []byte) (string, bool) {
	if len(b) == 0 || b[len(b)-1] != 0 {
		return "", false
	}
	for _, c := range b[:len(b)-1] {
		if c == 0 {
			return "", false
		}
	}
	return string(b[:len(b)-1]), true
}

// offsetSize is the size of the framing offsets of a container of size n.
func offsetSize(n int) int {
	switch {
	case n < 1<<8:
		return 1
	case n < 1<<16:
		return 2
	default:
		return 4 // MaxDeploy keeps every container below 4 GiB
	}
}

// offset reads the little-endian framing offset of size n at b[i:].
func offset(b []byte, i, n int) int {
	v := 0
	for k := n - 1; k >= 0; k-- {
		v = v<<8 | int(b[i+k])
	}
	return v
}

func align(i, a int) int { return (i + a - 1) &^ (a - 1) }
