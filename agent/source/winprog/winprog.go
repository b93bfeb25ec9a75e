// Package winprog reads the programs installed on a Windows host as Add/Remove Programs
// (Settings' Installed apps) lists them, from the registry's Uninstall keys:
//
//   - HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\<key> in the 64-bit view
//     (arch x64) and in the 32-bit view, HKLM\SOFTWARE\WOW6432Node\... (arch x86);
//   - HKU\<SID>\Software\Microsoft\Windows\CurrentVersion\Uninstall\<key> of each loaded user
//     hive, its user the last element of
//     HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList\<SID> ProfileImagePath
//     (the SID itself when there is none).
//
// Each key with a DisplayName is a package of format "win" (title win:<DisplayName>): its
// DisplayVersion as the version ("(none)" without one), Publisher as the vendor,
// InstallLocation as the location, EstimatedSize (KiB) as the installed size, InstallDate
// (YYYYMMDD, or one of the other forms installers write) as the install time, else the
// key's last write time. A key whose WindowsInstaller is 1 is an MSI product and its name
// the ProductCode (label product_code). As Add/Remove Programs does, a key with
// SystemComponent 1 is hidden, and so is one with a ParentKeyName (an update of another
// program); ReleaseType is kept as a label. Programs are told apart by name, version and
// architecture: the same program under several keys, or installed by several users, is one
// package whose copies count the others, the machine's first.
//
// Users whose hive is not loaded (not logged on) are not read. The registry gives no file to
// watch, so the source is read again at each inventory pass.
//
// Checked under Wine 8 (TestWine): an MSI product installed by msiexec (name, version,
// publisher, arch x64, ProductCode, InstallDate), a program registered in the 32-bit view
// (arch x86) and one in the user's loaded hive (scope user, the user named through
// ProfileList). Checked on reg export fixtures only: SystemComponent and ParentKeyName hiding,
// the de-duplication and copies, the other InstallDate forms and the LastWriteTime fallback,
// EstimatedSize, InstallLocation, values of the wrong type, several users' hives; Wine does
// not write those values itself.
//
// The package also holds the winsvc source (services.go), reading the services on the same
// Registry.
package winprog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

const (
	sourceFormat = "win"
	// MaxPrograms bounds the Uninstall keys read per pass, all views and users together.
	MaxPrograms = 50000
	// NoVersion is the version of a program whose key has no DisplayVersion.
	NoVersion = "(none)"

	uninstallPath = `SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall`
	userUninstall = `Software\Microsoft\Windows\CurrentVersion\Uninstall`
	profileList   = `SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList`
)

// Source reads the installed programs.
type Source struct{ reg Registry }

// New returns a source reading reg (System() on Windows, a RegFile elsewhere).
func New(reg Registry) *Source { return &Source{reg: reg} }

// Name implements source.Source.
func (*Source) Name() string { return "winprog" }

// PackageFormat implements source.PackageSource.
func (*Source) PackageFormat() string { return sourceFormat }

// uninstallRoot is one Uninstall key to read.
type uninstallRoot struct {
	hive  Hive
	path  string
	view  View
	arch  string
	user  string // "" for the machine's
	label string // the key's path as the registry names it, for the package's labels
}

// roots lists the machine's Uninstall keys, then each loaded user hive's, by SID.
func (s *Source) roots() []uninstallRoot {
	out := []uninstallRoot{
		{hive: LocalMachine, path: uninstallPath, view: View64, arch: "x64", label: `HKLM\` + uninstallPath},
		{hive: LocalMachine, path: uninstallPath, view: View32, arch: "x86", label: `HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall`},
	}
	sids, err := s.reg.SubKeys(Users, "", View64)
	if err != nil {
		return out
	}
	for _, sid := range sids {
		// .DEFAULT is the hive of LocalSystem (S-1-5-18) again; <SID>_Classes holds a
		// user's file associations, not programs.
		if strings.EqualFold(sid, ".DEFAULT") || strings.HasSuffix(strings.ToLower(sid), "_classes") {
			continue
		}
		out = append(out, uninstallRoot{hive: Users, path: sid + `\` + userUninstall, view: View64,
			user: s.profileName(sid), label: `HKU\` + sid + `\` + userUninstall})
	}
	return out
}

// wellKnown names the service accounts' SIDs, whose profiles are under the system's folder.
var wellKnown = map[string]string{"S-1-5-18": "SYSTEM", "S-1-5-19": "LOCAL SERVICE", "S-1-5-20": "NETWORK SERVICE"}

// profileName returns the user a SID's hive belongs to: the last element of its profile's
// folder, else the SID.
func (s *Source) profileName(sid string) string {
	if n, ok := wellKnown[sid]; ok {
		return n
	}
	k, err := s.reg.Key(LocalMachine, profileList+`\`+sid, View64)
	if err != nil {
		return sid
	}
	p, ok := k.Values["profileimagepath"].String()
	p = strings.TrimRight(p, `\/ `)
	if i := strings.LastIndexAny(p, `\/`); i >= 0 {
		p = p[i+1:]
	}
	if !ok || p == "" || len(p) > protocol.MaxNameLen {
		return sid
	}
	return source.Text([]byte(p), protocol.MaxNameLen)
}

// Collect implements source.Source. A registry without any Uninstall key is not Windows'
// (or not one that installed anything): the source is not present there.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	var progs []program
	present, keys := false, 0
	for _, r := range s.roots() {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		names, err := s.reg.SubKeys(r.hive, r.path, r.view)
		if errors.Is(err, ErrNotExist) {
			continue
		}
		present = true
		if err != nil {
			res.Skipped++
			continue
		}
		for i, name := range names {
			if i%256 == 0 && ctx.Err() != nil {
				return res, ctx.Err()
			}
			if keys++; keys > MaxPrograms {
				res.Skipped++
				continue
			}
			k, err := s.reg.Key(r.hive, r.path+`\`+name, r.view)
			if err != nil {
				res.Skipped++
				continue
			}
			p, ok, bad := readProgram(r, name, k)
			res.Skipped += bad
			if ok {
				progs = append(progs, p)
			}
		}
	}
	if !present {
		return res, fmt.Errorf("winprog: %w", source.ErrNotPresent)
	}
	res.Software = merge(progs)
	return res, nil
}

// program is one Uninstall key's package and where it was read, for the merge's order.
type program struct {
	pkg  model.Package
	rank int // 0 for the machine's, 1 for a user's
	key  string
}

// readProgram makes the package of one Uninstall key. ok is false for a key Add/Remove
// Programs does not show; bad counts the values that were present but unreadable.
func readProgram(r uninstallRoot, name string, k Key) (p program, ok bool, bad int) {
	str := func(v string) string {
		val, found := k.Values[v]
		if !found {
			return ""
		}
		s, isStr := val.String()
		if !isStr {
			bad++
		}
		return strings.TrimSpace(s)
	}
	num := func(v string) (uint64, bool) {
		val, found := k.Values[v]
		if !found {
			return 0, false
		}
		n, isNum := val.Uint()
		if !isNum {
			bad++
		}
		return n, isNum
	}
	display := str("displayname")
	if display == "" {
		return p, false, bad
	}
	if n, _ := num("systemcomponent"); n == 1 {
		return p, false, bad
	}
	if str("parentkeyname") != "" {
		return p, false, bad
	}
	pkg := model.Package{Source: sourceFormat, Name: source.Text([]byte(display), protocol.MaxNameLen), Arch: r.arch}
	pkg.Version = source.Text([]byte(str("displayversion")), protocol.MaxFieldLen)
	if pkg.Version == "" {
		pkg.Version = NoVersion
	}
	pkg.Vendor = source.Text([]byte(str("publisher")), protocol.MaxFieldLen)
	pkg.Location = source.Text([]byte(str("installlocation")), protocol.MaxFieldLen)
	pkg.User = r.user
	if kib, ok := num("estimatedsize"); ok && kib < 1<<44 {
		pkg.InstalledSize = kib << 10
	}
	if t, ok := ParseInstallDate(str("installdate")); ok {
		pkg.InstallTime = t
	} else if !k.LastWrite.IsZero() {
		pkg.InstallTime = k.LastWrite.UTC().Truncate(time.Second)
	}
	labels := map[string]string{"key": r.label + `\` + name, "scope": "machine"}
	if r.hive == Users {
		labels["scope"] = "user"
	}
	if n, _ := num("windowsinstaller"); n == 1 {
		labels["product_code"] = name
	}
	if rt := str("releasetype"); rt != "" {
		labels["release_type"] = rt
	}
	var dropped int
	pkg.Labels, dropped = source.Labels(labels)
	rank := 0
	if r.hive == Users {
		rank = 1
	}
	return program{pkg: pkg, rank: rank, key: labels["key"]}, true, bad + dropped
}

// ParseInstallDate reads an InstallDate: YYYYMMDD as Windows Installer writes it, else
// YYYY-MM-DD, YYYY/MM/DD, M/D/YYYY (the US form some installers write whatever the locale)
// or D.M.YYYY, each as midnight UTC; ok is false for anything else or a year outside
// 1980–2999.
func ParseInstallDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"20060102", "2006-01-02", "2006/01/02", "1/2/2006", "2.1.2006"} {
		if t, err := time.Parse(layout, s); err == nil && t.Year() >= 1980 && t.Year() < 3000 {
			return t, true
		}
	}
	return time.Time{}, false
}

// merge sorts the programs and keeps one per package key: the machine's before a user's, then
// the first by key path, counting the others as its copies.
func merge(progs []program) []model.Package {
	slices.SortFunc(progs, func(a, b program) int {
		return cmp.Or(model.ComparePackages(a.pkg, b.pkg), cmp.Compare(a.rank, b.rank), strings.Compare(a.key, b.key))
	})
	var out []model.Package
	for _, p := range progs {
		if n := len(out); n > 0 && model.ComparePackages(out[n-1], p.pkg) == 0 {
			out[n-1].Copies++
			continue
		}
		out = append(out, p.pkg)
	}
	return out
}
