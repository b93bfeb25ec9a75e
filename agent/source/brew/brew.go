// Package brew reads the formulae and casks Homebrew installed on a host, macOS or Linux
// (Linuxbrew), from the files brew writes, never running it.
//
// Homebrew installs into a prefix: /opt/homebrew (Apple silicon), /usr/local (Intel Macs),
// /home/linuxbrew/.linuxbrew (Linux), or ~/.linuxbrew in a home of /etc/passwd; a host may
// have several (an Apple silicon Mac running an Intel brew under Rosetta has both macOS
// ones). Under each:
//
//   - Cellar/<name>/<version>/INSTALL_RECEIPT.json, a keg and its receipt (Tab#to_json:
//     installed_on_request, installed_as_dependency, time, arch, source.tap,
//     source.versions.stable, homebrew_version, built_as_bottle, poured_from_bottle);
//     opt/<name>, the link to the keg in use. Only the keg the opt link points to is read
//     when there is one; otherwise (a keg brew did not finish linking, a Cellar copied
//     without its links) every keg of the formula is, each labelled opt_link=absent.
//   - Caskroom/<token>/.metadata/<version>/<timestamp>/Casks/<token>.json (or .rb, of which
//     only the name and version lines are read, never evaluated), the cask definition saved
//     at install: the newest timestamp names the installed version, as Cask#installed_version
//     finds it; Caskroom/<token>/.metadata/INSTALL_RECEIPT.json, the cask's receipt
//     (Homebrew 4.3 and later).
//
// Two sources read them: New the formulae, format "brew" (title brew:wget; a formula of a
// tap other than homebrew/core is named as brew names it, with its tap:
// brew:hashicorp/tap/terraform), and NewCasks the casks, format "brew-cask"
// (brew-cask:firefox; a cask of a tap other than homebrew/cask with its tap). installed_by
// is the owner of the prefix's Cellar (Caskroom for casks), the directory brew creates and
// writes as the user who runs it (a prefix's own directory, /usr/local, may belong to
// root): a name where the host root's /etc/passwd names the uid (macOS keeps its users
// elsewhere: uid:501), evidence "brew-prefix-owner".
package brew

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
)

const (
	formulaFormat = "brew"
	caskFormat    = "brew-cask"
	evidence      = "brew-prefix-owner"
	// MaxReceipt bounds an INSTALL_RECEIPT.json or a saved cask definition: a receipt takes
	// a few KiB, its runtime dependencies most of it.
	MaxReceipt = 1 << 20
	// MaxPackages bounds the kegs and casks read per pass, over every prefix.
	MaxPackages = 5000
	// maxEntries bounds the versions of one formula or cask and the timestamps of one
	// version that are listed.
	maxEntries = 64
	receipt    = "INSTALL_RECEIPT.json"
)

// systemPrefixes are Homebrew's default prefixes; each home's ~/.linuxbrew is one too.
var systemPrefixes = []string{"/opt/homebrew", "/usr/local", "/home/linuxbrew/.linuxbrew"}

// Source reads the formulae, or the casks, of every Homebrew prefix.
type Source struct {
	root hostfs.Root
	cask bool
}

// New returns the source of Homebrew's formulae under root.
func New(root hostfs.Root) *Source { return newSource(root, false) }

// NewCasks returns the source of Homebrew's casks under root.
func NewCasks(root hostfs.Root) *Source { return newSource(root, true) }

func newSource(root hostfs.Root, cask bool) *Source {
	if root == "" {
		root = "/"
	}
	return &Source{root: root, cask: cask}
}

// Name implements source.Source.
func (s *Source) Name() string {
	if s.cask {
		return caskFormat
	}
	return formulaFormat
}

// PackageFormat implements source.PackageSource.
func (s *Source) PackageFormat() string { return s.Name() }

// prefix is one Homebrew prefix: its host path, and the account whose home it is in.
type prefix struct{ host, user string }

func (s *Source) prefixes(accounts []source.Account) []prefix {
	var out []prefix
	for _, p := range systemPrefixes {
		out = append(out, prefix{host: p})
	}
	for _, a := range accounts {
		p := strings.TrimSuffix(a.Home, "/") + "/.linuxbrew"
		if !slices.Contains(systemPrefixes, p) { // the linuxbrew account's home holds the shared prefix
			out = append(out, prefix{host: p, user: a.Name})
		}
	}
	return out
}

// dir is the directory of a prefix this source reads: Cellar or Caskroom.
func (s *Source) dir() string {
	if s.cask {
		return "/Caskroom"
	}
	return "/Cellar"
}

// WatchPaths implements source.Watcher: each prefix's Cellar and opt (Caskroom for casks),
// which brew changes on every install, upgrade and removal.
func (s *Source) WatchPaths() []string {
	var out []string
	for _, p := range s.prefixes(source.Accounts(s.root)) {
		out = append(out, s.root.Path(p.host+s.dir()))
		if !s.cask {
			out = append(out, s.root.Path(p.host+"/opt"))
		}
	}
	return out
}

// pass is one Collect: the packages read so far and the names of the host's uids.
type pass struct {
	src     *Source
	users   map[int]string
	pkgs    []model.Package
	skipped int
}

// full reports whether the pass holds MaxPackages packages, counting one more left out.
func (p *pass) full() bool {
	if len(p.pkgs) >= MaxPackages {
		p.skipped++
		return true
	}
	return false
}

// Collect implements source.Source. A host where no prefix has a Cellar (a Caskroom) is
// one Homebrew installed no formula (cask) on: the source is not present there.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	accounts := source.Accounts(s.root)
	p := pass{src: s, users: map[int]string{}}
	for _, a := range accounts {
		if _, ok := p.users[a.UID]; !ok { // the first account of a uid names it, as getpwuid finds it
			p.users[a.UID] = a.Name
		}
	}
	present := false
	for _, pre := range s.prefixes(accounts) {
		if ctx.Err() != nil {
			return source.Result{}, ctx.Err()
		}
		real, err := s.root.Resolve(pre.host + s.dir())
		if err != nil {
			continue
		}
		fi, err := os.Stat(real)
		if err != nil || !fi.IsDir() {
			continue
		}
		present = true
		owner := p.owner(fi)
		if s.cask {
			p.casks(ctx, pre, real, owner)
		} else {
			p.formulae(ctx, pre, real, owner)
		}
	}
	if !present {
		return source.Result{}, fmt.Errorf("%s: %w", s.Name(), source.ErrNotPresent)
	}
	return source.Result{Software: source.MergeCopies(p.pkgs), Skipped: p.skipped}, nil
}

// owner names the owner of a file through the host's accounts, else "uid:N".
func (p *pass) owner(fi os.FileInfo) string {
	uid, ok := fileUID(fi)
	if !ok {
		return ""
	}
	if n, ok := p.users[uid]; ok {
		return n
	}
	return "uid:" + strconv.Itoa(uid)
}

// listDir lists the directory real: the names of the entries keep accepts, sorted, at
// most max of them (of at most 4×max entries read), with the count of the others. Regular
// files and dot-files (.metadata, .DS_Store, a receipt beside the versions) are passed
// over, not counted.
func listDir(real string, max int, keep func(os.DirEntry) bool) (names []string, skipped int, err error) {
	f, err := os.Open(real)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	ents, err := f.ReadDir(4 * max)
	if err != nil && len(ents) == 0 {
		return nil, 0, err
	}
	for _, e := range ents {
		if e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if !keep(e) {
			skipped++
			continue
		}
		names = append(names, e.Name())
	}
	slices.Sort(names)
	if len(names) > max {
		skipped += len(names) - max
		names = names[:max]
	}
	return names, skipped, nil
}

// validName checks a formula name, cask token, version or timestamp directory: printable
// ASCII without "/" or spaces, not "." or "..", not a dot-file, at most 128 bytes.
func validName(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || c == '/' {
			return false
		}
	}
	return true
}

// validTap checks a tap name, "user/repository", as Homebrew spells them.
func validTap(s string) bool {
	u, r, ok := strings.Cut(s, "/")
	return ok && validName(u) && validName(r) && !strings.Contains(r, "/")
}

// qualified is the name brew gives a formula or cask of tap: the bare name in the default
// tap or without a tap, else "<tap>/<name>".
func qualified(name, tap, defaultTap string) string {
	if tap == "" || tap == defaultTap || !validTap(tap) {
		return name
	}
	return tap + "/" + name
}
