package loadgen

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/onus-project/onus/internal/model"
)

// A Pool is the fleet's shared package catalog: the titles every simulated host draws its
// packages from, like a fleet built from the same distribution repositories. It is drawn
// deterministically from a seed. About four fifths of the titles are Debian packages (deb),
// the rest Red Hat ones (rpm); a host draws from the titles of its OS family only.
//
// Titles are ranked by popularity: the first titles of a family (the essential ones: libc6,
// bash, coreutils...) are on every host; a host of n packages has the title of rank r with
// probability 1/(1+(r/0.83n)^3), so small hosts hold the most popular titles, large ones
// reach further down, and the tail still shows up on a few hosts: hosts share most of
// their packages and the fleet has thousands of rare titles.
type Pool struct {
	titles []title // sorted by source, then name
	fams   []*family
}

// title is one software title with everything a host's package of it shows, except the
// version index and the install time, which belong to the host.
type title struct {
	source, name, arch          string
	upstream, suffix            string // version: upstream-<rev+v><suffix>
	rev                         int
	versions                    [4]string // the first versions, precomputed
	section, maintainer, origin string
	summary, vendor, license    string
	size                        uint64
	rank                        int32 // popularity rank within the family, 0 = most popular
	fam                         uint8
}

// family is the part of the pool hosts of one OS family draw from.
type family struct {
	source string
	ranked []uint32 // pool indices, most popular first
	core   int      // ranked[:core] are on every host of the family
}

const (
	famDeb = 0
	famRPM = 1
)

// version returns the version string of version index v (0 is the oldest the fleet has).
func (t *title) version(v int) string {
	if v < len(t.versions) {
		return t.versions[v]
	}
	return t.upstream + "-" + strconv.Itoa(t.rev+v) + t.suffix
}

// NewPool draws a pool of size titles (at least 500) from seed.
func NewPool(size int, seed uint64) *Pool {
	size = max(size, 500)
	rng := rand.New(rand.NewPCG(seed, 0x706f6f6c))
	p := &Pool{}
	debN := size * 4 / 5
	type drawn struct {
		t    title
		rank int
	}
	var all []drawn
	for f, n := range []int{debN, size - debN} {
		fam := &family{source: []string{"deb", "rpm"}[f]}
		p.fams = append(p.fams, fam)
		names := newNamer(rng, f)
		seen := map[string]bool{}
		core := coreNames[f]
		for rank := 0; rank < n; rank++ {
			var t title
			if rank < len(core) {
				t = names.real(core[rank])
			} else {
				for {
					t = names.synthetic()
					if !seen[t.name] {
						break
					}
				}
			}
			seen[t.name] = true
			t.fam, t.rank = uint8(f), int32(rank)
			all = append(all, drawn{t: t, rank: rank})
		}
		fam.core = min(len(core), n)
	}
	slices.SortFunc(all, func(a, b drawn) int {
		return cmp.Or(cmp.Compare(a.t.source, b.t.source), cmp.Compare(a.t.name, b.t.name))
	})
	p.titles = make([]title, len(all))
	for i, d := range all {
		p.titles[i] = d.t
	}
	for _, fam := range p.fams {
		fam.ranked = make([]uint32, 0, len(all))
	}
	for i := range p.titles {
		fam := p.fams[p.titles[i].fam]
		fam.ranked = append(fam.ranked, uint32(i))
	}
	for _, fam := range p.fams {
		slices.SortFunc(fam.ranked, func(a, b uint32) int { return cmp.Compare(p.titles[a].rank, p.titles[b].rank) })
	}
	return p
}

// Len returns the number of titles.
func (p *Pool) Len() int { return len(p.titles) }

// Title returns the title of pool index i as "source:name".
func (p *Pool) Title(i int) string { return model.TitleKey(p.titles[i].source, p.titles[i].name) }

// namer draws realistic package names and metadata for one family.
type namer struct {
	rng         *rand.Rand
	fam         int
	maintainers []string
}

func newNamer(rng *rand.Rand, fam int) *namer {
	n := &namer{rng: rng, fam: fam}
	if fam == famDeb {
		for i := 0; i < 400; i++ {
			if i%5 == 0 {
				team := strings.ToUpper(teams[i/5%len(teams)][:1]) + teams[i/5%len(teams)][1:]
				n.maintainers = append(n.maintainers, "Debian "+team+" Team <debian-"+teams[i/5%len(teams)]+"@lists.debian.org>")
				continue
			}
			first, last := firstNames[rng.IntN(len(firstNames))], lastNames[rng.IntN(len(lastNames))]
			n.maintainers = append(n.maintainers, first+" "+last+" <"+strings.ToLower(first[:1]+last)+"@debian.org>")
		}
	} else {
		n.maintainers = []string{"Rocky Linux Build System (Peridot) <releng@rockylinux.org>",
			"Fedora Project <https://bugz.fedoraproject.org/>", "EPEL Packagers <epel-devel@lists.fedoraproject.org>"}
	}
	return n
}

// stem returns a made-up upstream project name: two or three syllables, sometimes a real
// library's name with a suffix.
func (n *namer) stem() string {
	if n.rng.IntN(5) == 0 {
		return realStems[n.rng.IntN(len(realStems))] + syllable(n.rng)
	}
	var b strings.Builder
	for i := 0; i < 2+n.rng.IntN(2); i++ {
		b.WriteString(syllable(n.rng))
	}
	return b.String()
}

func syllable(rng *rand.Rand) string {
	return onsets[rng.IntN(len(onsets))] + nuclei[rng.IntN(len(nuclei))] + codas[rng.IntN(len(codas))]
}

// real returns the title of a real package name from the core list.
func (n *namer) real(name string) title {
	t := n.base(name, strings.TrimPrefix(name, "lib"))
	t.section = map[bool]string{true: "libs", false: "admin"}[strings.HasPrefix(name, "lib")]
	t.summary = "core system package " + name
	return t
}

// base fills the fields every title has.
func (n *namer) base(name, origin string) title {
	t := title{source: []string{"deb", "rpm"}[n.fam], name: name, origin: origin}
	major, minor, patch := n.rng.IntN(12), n.rng.IntN(30), n.rng.IntN(20)
	t.upstream = strconv.Itoa(major) + "." + strconv.Itoa(minor) + "." + strconv.Itoa(patch)
	if n.rng.IntN(20) == 0 {
		t.upstream = strconv.Itoa(1+n.rng.IntN(3)) + ":" + t.upstream
	}
	t.rev = 1 + n.rng.IntN(6)
	if n.fam == famDeb {
		t.arch = "amd64"
		if n.rng.IntN(5) == 0 {
			t.arch = "all"
		}
		if n.rng.IntN(4) == 0 {
			t.suffix = "+deb12u" + strconv.Itoa(1+n.rng.IntN(5))
		}
		t.maintainer = n.maintainers[n.rng.IntN(len(n.maintainers))]
	} else {
		t.arch = "x86_64"
		if n.rng.IntN(5) == 0 {
			t.arch = "noarch"
		}
		t.suffix = ".el9"
		if n.rng.IntN(3) == 0 {
			t.suffix = ".el9_" + strconv.Itoa(1+n.rng.IntN(5))
		}
		t.maintainer = n.maintainers[n.rng.IntN(len(n.maintainers))]
		t.vendor = "Rocky Enterprise Software Foundation"
		t.license = licenses[n.rng.IntN(len(licenses))]
	}
	for v := range t.versions {
		t.versions[v] = t.upstream + "-" + strconv.Itoa(t.rev+v) + t.suffix
	}
	t.size = uint64(4096 + n.rng.ExpFloat64()*2e6)
	return t
}

// synthetic draws a package name from the usual naming patterns of the family.
func (n *namer) synthetic() title {
	stem := n.stem()
	owner := goOwners[n.rng.IntN(len(goOwners))]
	pats := debPatterns
	if n.fam == famRPM {
		pats = rpmPatterns
	}
	x := n.rng.IntN(pats[len(pats)-1].cum)
	i := slices.IndexFunc(pats, func(p pattern) bool { return x < p.cum })
	pat := pats[i]
	name := strings.NewReplacer("{s}", stem, "{o}", owner, "{n}", strconv.Itoa(n.rng.IntN(4))).Replace(pat.name)
	t := n.base(name, stem)
	t.section = pat.section
	t.summary = strings.NewReplacer("{s}", stem, "{o}", owner).Replace(pat.summary)
	return t
}

type pattern struct {
	name, section, summary string
	cum                    int // cumulative weight
}

func patterns(ps ...pattern) []pattern {
	sum := 0
	for i := range ps {
		sum += ps[i].cum
		ps[i].cum = sum
	}
	return ps
}

var debPatterns = patterns(
	pattern{"lib{s}{n}", "libs", "shared library of {s}", 22},
	pattern{"lib{s}-dev", "libdevel", "development files of the {s} library", 8},
	pattern{"python3-{s}", "python", "Python 3 module {s}", 14},
	pattern{"golang-github-{o}-{s}-dev", "golang", "Go package github.com/{o}/{s}", 10},
	pattern{"node-{s}", "javascript", "Node.js module {s}", 8},
	pattern{"lib{s}-perl", "perl", "Perl module {s}", 6},
	pattern{"ruby-{s}", "ruby", "Ruby library {s}", 4},
	pattern{"r-cran-{s}", "gnu-r", "GNU R package {s}", 3},
	pattern{"fonts-{s}", "fonts", "{s} font family", 1},
	pattern{"{s}", "utils", "{s}: command line tool", 10},
	pattern{"{s}-common", "misc", "common files of {s}", 4},
	pattern{"{s}-utils", "utils", "utilities of {s}", 3},
	pattern{"{s}-data", "misc", "data files of {s}", 3},
	pattern{"{s}-doc", "doc", "documentation of {s}", 4},
)

var rpmPatterns = patterns(
	pattern{"{s}-libs", "System Environment/Libraries", "libraries of {s}", 18},
	pattern{"{s}-devel", "Development/Libraries", "development files of {s}", 10},
	pattern{"python3-{s}", "Development/Languages", "Python 3 module {s}", 14},
	pattern{"golang-github-{o}-{s}-devel", "Development/Languages", "Go package github.com/{o}/{s}", 8},
	pattern{"perl-{s}", "Development/Libraries", "Perl module {s}", 8},
	pattern{"rubygem-{s}", "Development/Languages", "Ruby gem {s}", 4},
	pattern{"nodejs-{s}", "Development/Libraries", "Node.js module {s}", 4},
	pattern{"{s}", "Applications/System", "{s}: command line tool", 20},
	pattern{"lib{s}", "System Environment/Libraries", "library {s}", 8},
	pattern{"{s}-common", "Applications/System", "common files of {s}", 3},
	pattern{"{s}-doc", "Documentation", "documentation of {s}", 3},
)

var (
	onsets = []string{"b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "x", "z",
		"br", "cr", "dr", "fl", "gl", "gr", "kl", "pl", "pr", "sk", "sl", "sn", "sp", "st", "tr", "qu", "ch", "sh", "th"}
	nuclei    = []string{"a", "e", "i", "o", "u", "y", "ai", "ea", "io", "ou"}
	codas     = []string{"", "", "", "n", "r", "l", "x", "s", "t", "m", "ck", "ng", "rt", "sh"}
	realStems = []string{"xml", "yaml", "json", "curl", "ssl", "crypt", "bz", "lzma", "zstd", "ffi", "glib", "gtk", "qt",
		"boost", "icu", "protobuf", "grpc", "snappy", "level", "sqlite", "pq", "redis", "uv", "event", "http", "brotli",
		"png", "jpeg", "tiff", "webp", "freetype", "font", "harf", "cairo", "pango", "x11", "xcb", "wayland", "drm",
		"vulkan", "pulse", "alsa", "udev", "dbus", "polkit", "krb", "ldap", "sasl", "pam", "selinux", "audit", "cap",
		"acl", "magic", "archive", "arrow", "numpy", "requests", "url", "date", "jinja", "flask", "django", "click",
		"attrs", "cert", "idna", "chardet", "setup", "wheel", "lua", "tcl", "perl", "ruby", "node", "go", "rust", "java"}
	goOwners = []string{"spf13", "sirupsen", "stretchr", "google", "golang", "prometheus", "hashicorp", "gorilla", "pkg",
		"davecgh", "pmezard", "mattn", "json-iterator", "go-kit", "uber", "coreos", "docker", "containerd",
		"opencontainers", "kubernetes", "grpc-ecosystem", "klauspost", "cespare", "beorn7", "fsnotify"}
	teams      = []string{"python", "perl", "ruby", "go", "js", "science", "fonts", "med", "x-strike-force", "gnome", "kde", "qt-kde", "multimedia", "games", "r", "haskell", "ocaml", "java", "rust", "lua"}
	firstNames = []string{"Anna", "Ben", "Carla", "David", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Karin",
		"Lars", "Mara", "Nils", "Olga", "Paul", "Rosa", "Sven", "Tara", "Uwe", "Vera", "Wim", "Yara", "Zoe"}
	lastNames = []string{"Abel", "Berg", "Costa", "Dahl", "Eriksen", "Fischer", "Garcia", "Horn", "Ivanov", "Jensen",
		"Kowalski", "Lindqvist", "Moreau", "Novak", "Olsen", "Petrov", "Quist", "Rossi", "Schmidt", "Tanaka", "Urban",
		"Vogel", "Weber", "Young", "Zimmer"}
	licenses = []string{"GPL-2.0-or-later", "LGPL-2.1-or-later", "MIT", "BSD-3-Clause", "Apache-2.0", "MPL-2.0", "ISC"}
)

// coreNames are real package names of each family, most common first: the first ones of
// the pool's popularity order, on every host.
var coreNames = [2][]string{
	{"adduser", "apt", "base-files", "base-passwd", "bash", "bsdutils", "coreutils", "dash", "debconf",
		"debian-archive-keyring", "debianutils", "diffutils", "dpkg", "e2fsprogs", "findutils", "gcc-12-base", "gpgv",
		"grep", "gzip", "hostname", "init-system-helpers", "libacl1", "libapt-pkg6.0", "libattr1", "libaudit-common",
		"libaudit1", "libblkid1", "libbz2-1.0", "libc-bin", "libc6", "libcap-ng0", "libcap2", "libcom-err2", "libcrypt1",
		"libdb5.3", "libdebconfclient0", "libext2fs2", "libffi8", "libgcc-s1", "libgcrypt20", "libgmp10", "libgnutls30",
		"libgpg-error0", "libhogweed6", "libidn2-0", "liblz4-1", "liblzma5", "libmd0", "libmount1", "libnettle8",
		"libp11-kit0", "libpam-modules", "libpam-modules-bin", "libpam-runtime", "libpam0g", "libpcre2-8-0",
		"libseccomp2", "libselinux1", "libsemanage-common", "libsemanage2", "libsepol2", "libsmartcols1", "libss2",
		"libssl3", "libstdc++6", "libsystemd0", "libtasn1-6", "libtinfo6", "libudev1", "libunistring2", "libuuid1",
		"libxxhash0", "libzstd1", "login", "logsave", "mawk", "mount", "ncurses-base", "ncurses-bin", "passwd",
		"perl-base", "sed", "sysvinit-utils", "tar", "tzdata", "usr-is-merged", "util-linux", "zlib1g", "ca-certificates",
		"curl", "libcurl4", "openssh-client", "openssh-server", "openssh-sftp-server", "systemd", "systemd-sysv",
		"systemd-timesyncd", "sudo", "vim-tiny", "less", "procps", "iproute2", "iputils-ping", "rsyslog", "cron",
		"logrotate", "gnupg", "wget", "python3", "python3-minimal", "python3.11", "python3.11-minimal", "libpython3.11",
		"libpython3.11-minimal", "libpython3.11-stdlib", "openssl", "netbase", "kmod", "libkmod2", "dbus", "libdbus-1-3",
		"ifupdown", "isc-dhcp-client", "libexpat1", "libsqlite3-0", "libreadline8", "readline-common", "libncursesw6",
		"libbsd0", "libedit2", "libnghttp2-14", "libpsl5", "librtmp1", "libssh2-1", "libbrotli1", "libldap-2.5-0",
		"libsasl2-2", "libsasl2-modules-db", "libgssapi-krb5-2", "libkrb5-3", "libk5crypto3", "libkrb5support0",
		"libkeyutils1", "libjson-c5", "libargon2-1", "libcryptsetup12", "libdevmapper1.02.1", "libip4tc2", "libapparmor1",
		"libelf1", "libmnl0", "libxtables12", "libpopt0", "lsb-release", "media-types", "debian-faq", "manpages",
		"man-db", "groff-base", "bsdextrautils", "libpipeline1", "libgdbm6", "libgdbm-compat4", "libperl5.36", "perl",
		"perl-modules-5.36", "libtext-iconv-perl", "liblocale-gettext-perl", "libtext-charwidth-perl",
		"libtext-wrapi18n-perl", "unattended-upgrades", "needrestart", "apt-listchanges", "chrony", "qemu-guest-agent"},
	{"bash", "coreutils", "coreutils-common", "glibc", "glibc-common", "glibc-minimal-langpack", "systemd",
		"systemd-libs", "systemd-pam", "systemd-udev", "openssh", "openssh-server", "openssh-clients", "rpm", "rpm-libs",
		"rpm-build-libs", "dnf", "dnf-data", "python3-dnf", "yum", "libdnf", "python3-libdnf", "kernel-core",
		"kernel-modules", "kernel-modules-core", "kernel-tools", "kernel-tools-libs", "grub2-common", "grub2-pc",
		"grub2-tools", "grub2-tools-minimal", "shim-x64", "setup", "filesystem", "basesystem", "rocky-release",
		"rocky-repos", "rocky-gpg-keys", "tzdata", "ca-certificates", "crypto-policies", "openssl", "openssl-libs",
		"zlib", "xz-libs", "bzip2-libs", "libzstd", "lz4-libs", "libgcc", "libstdc++", "ncurses-base", "ncurses-libs",
		"readline", "sqlite-libs", "libxml2", "expat", "pcre2", "pcre2-syntax", "libselinux", "libsepol", "libsemanage",
		"audit-libs", "libcap", "libcap-ng", "libacl", "libattr", "pam", "shadow-utils", "sudo", "util-linux",
		"util-linux-core", "procps-ng", "iproute", "iputils", "NetworkManager", "NetworkManager-libnm", "firewalld",
		"firewalld-filesystem", "chrony", "rsyslog", "logrotate", "cronie", "cronie-anacron", "crontabs", "curl",
		"libcurl", "gnupg2", "gpgme", "libgcrypt", "libgpg-error", "nettle", "gnutls", "p11-kit", "p11-kit-trust",
		"libtasn1", "krb5-libs", "keyutils-libs", "libcom_err", "cyrus-sasl-lib", "openldap", "json-c", "libssh",
		"libnghttp2", "libpsl", "libidn2", "libunistring", "python3", "python3-libs", "python3-pip-wheel",
		"python3-setuptools-wheel", "less", "vim-minimal", "tar", "gzip", "findutils", "grep", "sed", "gawk",
		"diffutils", "which", "hostname", "kmod", "kmod-libs", "dbus", "dbus-libs", "dbus-broker", "dbus-common",
		"polkit", "polkit-libs", "qemu-guest-agent", "tuned", "dracut", "dracut-config-rescue", "e2fsprogs", "xfsprogs",
		"lvm2", "lvm2-libs", "device-mapper", "device-mapper-libs", "cryptsetup-libs"},
}
