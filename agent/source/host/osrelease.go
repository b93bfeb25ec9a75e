package host

import (
	"strings"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/internal/model"
)

// readOS reads os-release(5): /etc/os-release, else /usr/lib/os-release.
func readOS(r hostfs.Root) (model.OS, error) {
	b, err := r.ReadFile("/etc/os-release", 64<<10)
	if hostfs.NotPresent(err) {
		b, err = r.ReadFile("/usr/lib/os-release", 64<<10)
	}
	if err != nil {
		return model.OS{}, wrap("os-release", err)
	}
	kv := ParseOSRelease(b)
	o := model.OS{
		ID:         kv["ID"],
		IDLike:     kv["ID_LIKE"],
		Name:       kv["NAME"],
		Version:    kv["VERSION"],
		VersionID:  kv["VERSION_ID"],
		PrettyName: kv["PRETTY_NAME"],
	}
	if o.ID == "" {
		o.ID = "linux" // the default os-release(5) gives
	}
	o.Family = family(o.ID, o.IDLike)
	return o, nil
}

// ParseOSRelease parses the shell-compatible KEY=value assignments of os-release(5), with
// single or double quotes and backslash escapes in double quotes. Bad lines are ignored.
func ParseOSRelease(b []byte) map[string]string {
	kv := make(map[string]string, 16)
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || len(kv) >= 64 || !validKey(k) {
			continue
		}
		if len(v) > 1024 {
			v = v[:1024]
		}
		kv[k] = unquote(v)
	}
	return kv
}

func validKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return v[1 : len(v)-1]
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
		if !strings.Contains(v, `\`) {
			return v
		}
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) && strings.IndexByte("\"\\$`", v[i+1]) >= 0 {
				i++
			}
			b.WriteByte(v[i])
		}
		return b.String()
	}
	return v
}

// family groups distributions by the package ecosystem they follow.
func family(id, idLike string) string {
	for _, w := range append([]string{id}, strings.Fields(idLike)...) {
		switch w {
		case "debian", "ubuntu":
			return "debian"
		case "rhel", "fedora", "centos", "rocky", "almalinux", "amzn", "ol":
			return "rhel"
		case "suse", "opensuse", "sles", "opensuse-leap", "opensuse-tumbleweed":
			return "suse"
		case "alpine":
			return "alpine"
		case "arch", "archlinux", "manjaro":
			return "arch"
		}
	}
	return "other"
}
