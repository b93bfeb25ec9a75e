package winprog

import (
	"encoding/binary"
	"errors"
	"strings"
	"time"
	"unicode/utf16"
)

// Hive is a predefined registry key the source reads under.
type Hive uint8

// The hives the source reads.
const (
	LocalMachine Hive = iota // HKEY_LOCAL_MACHINE
	Users                    // HKEY_USERS: one subkey per loaded user hive, named by its SID
)

// View is the registry view a key is opened in on 64-bit Windows: its own (KEY_WOW64_64KEY)
// or the one 32-bit programs see (KEY_WOW64_32KEY), where HKLM\SOFTWARE is
// HKLM\SOFTWARE\WOW6432Node.
type View uint8

// The two views.
const (
	View64 View = iota
	View32
)

// The value types of the registry (winnt.h REG_*) the source decodes.
const (
	TypeNone      = 0
	TypeString    = 1 // REG_SZ
	TypeExpand    = 2 // REG_EXPAND_SZ
	TypeBinary    = 3 // REG_BINARY
	TypeDWord     = 4 // REG_DWORD, little-endian
	TypeDWordBE   = 5 // REG_DWORD_BIG_ENDIAN
	TypeMultiSZ   = 7 // REG_MULTI_SZ
	TypeQWord     = 11
	maxValueBytes = 64 << 10
)

// ErrNotExist is returned by a Registry for a key that does not exist.
var ErrNotExist = errors.New("registry key does not exist")

// Value is one registry value as the registry holds it: its type and raw data (UTF-16LE
// for the string types), so that one decoder serves the live registry and the fixtures.
type Value struct {
	Type uint32
	Data []byte
}

// Key is what the source reads of one key: its values by lower-cased name (value names are
// case-insensitive) and the time it was last written.
type Key struct {
	Values    map[string]Value
	LastWrite time.Time
}

// Registry is the registry access the source needs: the live registry on Windows
// (registry_windows.go) and .reg files elsewhere (RegFile), so that everything but the
// system calls is tested from real-format exports on any platform.
type Registry interface {
	// SubKeys returns the names of the subkeys of path (backslash-separated, "" for the
	// hive itself) in view, ErrNotExist when there is no such key.
	SubKeys(h Hive, path string, v View) ([]string, error)
	// Key returns the values of the key at path in view, ErrNotExist when there is none.
	Key(h Hive, path string, v View) (Key, error)
}

// String decodes a REG_SZ or REG_EXPAND_SZ value (unexpanded) up to its first NUL; ok is
// false for another type. An odd trailing byte is dropped, as Windows does.
func (v Value) String() (s string, ok bool) {
	if v.Type != TypeString && v.Type != TypeExpand {
		return "", false
	}
	return utf16String(v.Data), true
}

// Uint decodes a REG_DWORD, REG_DWORD_BIG_ENDIAN or REG_QWORD value; ok is false for
// another type or a short value. Some installers write numbers as strings ("1"): a decimal
// REG_SZ is read too.
func (v Value) Uint() (n uint64, ok bool) {
	switch {
	case v.Type == TypeDWord && len(v.Data) >= 4:
		return uint64(binary.LittleEndian.Uint32(v.Data)), true
	case v.Type == TypeDWordBE && len(v.Data) >= 4:
		return uint64(binary.BigEndian.Uint32(v.Data)), true
	case v.Type == TypeQWord && len(v.Data) >= 8:
		return binary.LittleEndian.Uint64(v.Data), true
	}
	s, isString := v.String()
	if !isString {
		return 0, false
	}
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

func utf16String(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// utf16Data encodes s as the registry stores a string: UTF-16LE ending with a NUL.
func utf16Data(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u)+2)
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return append(b, 0, 0)
}
