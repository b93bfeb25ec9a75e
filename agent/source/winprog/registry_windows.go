package winprog

import (
	"errors"
	"strings"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// System returns the live registry of the machine the agent runs on. Checked under Wine 8:
// the 64-bit and 32-bit views of HKLM's Uninstall key, HKU's loaded hives, ProfileList,
// values' raw data and the keys' last write times.
func System() Registry { return liveRegistry{} }

type liveRegistry struct{}

func (liveRegistry) open(h Hive, path string, v View) (registry.Key, error) {
	root := registry.LOCAL_MACHINE
	if h == Users {
		root = registry.USERS
	}
	access := uint32(registry.ENUMERATE_SUB_KEYS | registry.QUERY_VALUE)
	if v == View32 {
		access |= registry.WOW64_32KEY
	} else {
		access |= registry.WOW64_64KEY
	}
	k, err := registry.OpenKey(root, path, access)
	if errors.Is(err, registry.ErrNotExist) || errors.Is(err, windows.ERROR_PATH_NOT_FOUND) {
		return 0, ErrNotExist
	}
	return k, err
}

// SubKeys implements Registry.
func (r liveRegistry) SubKeys(h Hive, path string, v View) ([]string, error) {
	k, err := r.open(h, path, v)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	return k.ReadSubKeyNames(-1)
}

// Key implements Registry: every value, each at most 64 KiB (a longer one is left out).
func (r liveRegistry) Key(h Hive, path string, v View) (Key, error) {
	k, err := r.open(h, path, v)
	if err != nil {
		return Key{}, err
	}
	defer k.Close()
	out := Key{Values: map[string]Value{}}
	if st, err := k.Stat(); err == nil {
		out.LastWrite = st.ModTime().UTC()
	}
	names, err := k.ReadValueNames(-1)
	if err != nil {
		return out, err
	}
	buf := make([]byte, 1024)
	for _, name := range names {
		n, typ, err := k.GetValue(name, buf)
		if errors.Is(err, registry.ErrShortBuffer) && n <= maxValueBytes {
			buf = make([]byte, n)
			n, typ, err = k.GetValue(name, buf)
		}
		if err != nil || n > len(buf) {
			continue
		}
		out.Values[strings.ToLower(name)] = Value{Type: typ, Data: append([]byte(nil), buf[:n]...)}
	}
	return out, nil
}
