package rpm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// This file adds what dnf records of each installation to the packages rpm lists: who
// installed the version now installed, with which command, and whether it was asked for or
// pulled in as a dependency. It reads, without sqlite, as rpm's own sqlite database is read:
//
//   - dnf 4's history (RHEL 8 and 9, Fedora up to 40; yum is dnf there):
//     /var/lib/dnf/history.sqlite, its tables trans, trans_item and rpm (libdnf's
//     libdnf/transaction/sql/create_tables.sql);
//   - dnf 5's history (Fedora 41 on): /usr/lib/sysimage/libdnf5/transaction_history.sqlite,
//     the same tables with names and architectures in pkg_name and arch
//     (libdnf5/transaction/db/sql/create_tables.sql), and dnf 5's reason for each installed
//     name.arch in /usr/lib/sysimage/libdnf5/packages.toml (dnf5-system-state(7)).
//
// All of it is best effort: a file that is missing, unreadable, too large or malformed
// leaves the fields empty and never fails the source; what could not be read is counted in
// Result.Skipped.

const (
	dnf4HistoryPath  = "/var/lib/dnf/history.sqlite"
	dnf5Dir          = "/usr/lib/sysimage/libdnf5"
	dnf5HistoryPath  = dnf5Dir + "/transaction_history.sqlite"
	dnf5PackagesPath = dnf5Dir + "/packages.toml"

	// maxHistoryDB bounds the history database read (and its WAL): dnf adds a few hundred
	// bytes a package per transaction, a few MiB a year on a busy server.
	maxHistoryDB = 256 << 20
	// maxHistoryRows bounds the rows of one table read.
	maxHistoryRows  = 1 << 22
	maxPackagesTOML = 16 << 20
	maxPasswd       = 16 << 20

	evidenceDNF       = "dnf-history"
	evidenceDNF5      = "dnf5-history"
	evidenceDNF5State = "dnf5-system-state"
)

// infoPaths are the files installInfo reads, for the cache key.
func infoPaths() [7]string {
	return [...]string{dnf4HistoryPath, dnf4HistoryPath + "-wal", dnf5HistoryPath, dnf5HistoryPath + "-wal",
		dnf5PackagesPath, zyppAutoInstalledPath, zyppHistoryPath}
}

// dialect is what differs between dnf 4's and dnf 5's history databases.
type dialect struct {
	path, evidence string
	dnf5           bool   // names and architectures in pkg_name and arch
	cmd, state     string // the trans columns of the command and the state
	action, reason string // the trans_item columns
	done           int64  // the state of a finished transaction
	install        []int64
	remove, mark   int64 // the actions removing a package and changing its reason
}

var (
	// libdnf's TransactionState DONE, and TransactionItemAction INSTALL, DOWNGRADE, OBSOLETE,
	// UPGRADE and REINSTALL put a package on the system; REMOVE and REASON_CHANGE.
	dnf4 = dialect{path: dnf4HistoryPath, evidence: evidenceDNF, cmd: "cmdline", state: "state",
		action: "action", reason: "reason", done: 1, install: []int64{1, 2, 4, 6, 9}, remove: 8, mark: 11}
	// libdnf5's TransactionState OK, and INSTALL, UPGRADE, DOWNGRADE, REINSTALL; REMOVE and
	// REASON_CHANGE.
	dnf5 = dialect{path: dnf5HistoryPath, evidence: evidenceDNF5, dnf5: true, cmd: "description",
		state: "state_id", action: "action_id", reason: "reason_id", done: 2, install: []int64{1, 2, 3, 4},
		remove: 5, mark: 7}
)

// dnfRecord is what one history database says of an installed package: the transactions
// (their ids, 0 for none) that last installed its version, last set its reason, and last
// removed it.
type dnfRecord struct {
	install, reasonAt, removed int64
	reason                     int64
}

// dnfHistory is what one history database says of the installed packages.
type dnfHistory struct {
	recs  []dnfRecord
	users map[int64]int64  // transaction → login uid, for the finished ones
	cmds  map[int64]string // transaction → command, for those that installed a package
}

// errTooManyRows ends the reading of a history table longer than maxHistoryRows.
var errTooManyRows = errors.New("too many rows")

// pkgIndex finds installed packages by name.
type pkgIndex struct {
	pkgs   []model.Package
	byName map[string][]int
}

func newPkgIndex(pkgs []model.Package) *pkgIndex {
	x := &pkgIndex{pkgs: pkgs, byName: make(map[string][]int, len(pkgs))}
	for i := range pkgs {
		x.byName[pkgs[i].Name] = append(x.byName[pkgs[i].Name], i)
	}
	return x
}

// find appends to out the packages of that name, architecture and epoch, version and
// release.
func (x *pkgIndex) find(out []int, name, arch []byte, epoch int64, version, release []byte) []int {
	for _, i := range x.byName[string(name)] {
		p := &x.pkgs[i]
		if p.Arch == string(arch) && evrIs(p.Version, epoch, version, release) {
			out = append(out, i)
		}
	}
	return out
}

// evrIs reports whether v, as toPackage writes it ([epoch:]version-release, no epoch when
// 0), is that epoch, version and release.
func evrIs(v string, epoch int64, version, release []byte) bool {
	if epoch != 0 {
		e := strconv.FormatInt(epoch, 10)
		if len(v) <= len(e) || v[:len(e)] != e || v[len(e)] != ':' {
			return false
		}
		v = v[len(e)+1:]
	}
	return len(v) == len(version)+1+len(release) && v[:len(version)] == string(version) &&
		v[len(version)] == '-' && v[len(version)+1:] == string(release)
}

// installInfo fills the InstallInfo fields of pkgs from dnf's records under root, then from
// yum's (yumdb.go) and libzypp's (zypp.go) for the packages dnf says nothing of, and returns
// how many records or files could not be read.
func installInfo(root hostfs.Root, pkgs []model.Package) (skipped int) {
	if len(pkgs) == 0 {
		return 0
	}
	x := newPkgIndex(pkgs)
	var names map[int64]string
	for _, d := range []*dialect{&dnf4, &dnf5} {
		h, n, err := d.open(root, x)
		skipped += n
		if err != nil {
			if !hostfs.NotPresent(err) {
				skipped++
			}
			continue
		}
		if names == nil && len(h.cmds) > 0 {
			names = passwdNames(root)
		}
		d.apply(h, pkgs, names)
	}
	skipped += applyPackagesTOML(root, pkgs)
	skipped += yumdbInfo(root, x, &names)
	return skipped + zyppInfo(root, x)
}

// open reads the history database of d under root, with its WAL.
func (d *dialect) open(root hostfs.Root, x *pkgIndex) (*dnfHistory, int, error) {
	p, err := root.Resolve(d.path)
	if err != nil {
		return nil, 0, err
	}
	f, fi, err := source.OpenRegular(p)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	if fi.Size() > maxHistoryDB {
		return nil, 0, hostfs.ErrTooLarge
	}
	var (
		wal     io.ReaderAt
		walSize int64
	)
	if w, wi, err := source.OpenRegular(p + "-wal"); err == nil {
		defer w.Close()
		if wi.Size() <= maxHistoryDB {
			wal, walSize = w, wi.Size()
		}
	}
	return d.read(f, fi.Size(), wal, walSize, x)
}

// read reads a history database (size bytes, with its WAL of walSize bytes or nil). skipped
// counts the rows that could not be read; an error means the database could not be.
func (d *dialect) read(f io.ReaderAt, size int64, wal io.ReaderAt, walSize int64, x *pkgIndex) (h *dnfHistory, skipped int, err error) {
	db, err := openSQLite(f, size, wal, walSize)
	if err != nil {
		return nil, 0, err
	}
	names := []string{"trans", "trans_item", "rpm"}
	if d.dnf5 {
		names = append(names, "pkg_name", "arch")
	}
	tabs, err := db.tables(names...)
	if err != nil {
		return nil, 0, err
	}
	for _, n := range names {
		if _, ok := tabs[n]; !ok {
			return nil, 0, fmt.Errorf("%w: no table %s", ErrMalformed, n)
		}
	}
	h = &dnfHistory{recs: make([]dnfRecord, len(x.pkgs)), users: map[int64]int64{}, cmds: map[int64]string{}}
	// Transactions first, then the packages and their items.
	n, err := scanColumns(db, tabs["trans"], []string{"id", "user_id", d.state}, func(v []value) bool {
		if v[0].kind != 'i' || v[1].kind != 'i' {
			return false
		}
		if v[2].kind == 'i' && v[2].n == d.done {
			h.users[v[0].n] = v[1].n
		}
		return true
	})
	skipped += n
	if err != nil {
		return nil, skipped, err
	}
	items, n, err := d.items(db, tabs, x)
	skipped += n
	if err != nil {
		return nil, skipped, err
	}
	n, err = scanColumns(db, tabs["trans_item"], []string{"trans_id", "item_id", d.action, d.reason}, func(v []value) bool {
		if v[0].kind != 'i' || v[1].kind != 'i' || v[2].kind != 'i' || v[3].kind != 'i' {
			return false
		}
		if _, done := h.users[v[0].n]; done {
			for _, i := range items[v[1].n] {
				d.add(&h.recs[i], v[0].n, v[2].n, v[3].n)
			}
		}
		return true
	})
	skipped += n
	if err != nil {
		return nil, skipped, err
	}
	for _, r := range h.recs {
		if r.install > r.removed {
			h.cmds[r.install] = ""
		}
	}
	if len(h.cmds) == 0 {
		return h, skipped, nil
	}
	n, err = scanColumns(db, tabs["trans"], []string{"id", d.cmd}, func(v []value) bool {
		if _, ok := h.cmds[v[0].n]; ok && v[0].kind == 'i' && v[1].kind == 't' {
			h.cmds[v[0].n] = source.Text(v[1].b, protocol.MaxFieldLen)
		}
		return true
	})
	return h, skipped + n, err
}

// add applies one finished transaction item of an installed package's version.
func (d *dialect) add(r *dnfRecord, trans, action, reason int64) {
	switch {
	case slices.Contains(d.install, action):
		if trans >= r.install {
			r.install = trans
		}
		fallthrough
	case action == d.mark:
		if trans >= r.reasonAt {
			r.reasonAt, r.reason = trans, reason
		}
	case action == d.remove:
		r.removed = max(r.removed, trans)
	}
}

// items maps the history's items (rpm.item_id) to the installed packages of their exact
// name, epoch, version, release and architecture.
func (d *dialect) items(db *sqliteDB, tabs map[string]table, x *pkgIndex) (map[int64][]int, int, error) {
	var (
		pkgNames, arches map[int64][]byte
		skipped          int
	)
	cols := []string{"item_id", "name", "epoch", "version", "release", "arch"}
	if d.dnf5 {
		cols[1], cols[5] = "name_id", "arch_id"
		pkgNames, arches = map[int64][]byte{}, map[int64][]byte{}
		for _, t := range []struct {
			name string
			m    map[int64][]byte
			keep func([]byte) bool
		}{
			{"pkg_name", pkgNames, func(n []byte) bool { _, ok := x.byName[string(n)]; return ok }},
			{"arch", arches, func([]byte) bool { return true }},
		} {
			n, err := scanColumns(db, tabs[t.name], []string{"id", "name"}, func(v []value) bool {
				if v[0].kind != 'i' || v[1].kind != 't' {
					return false
				}
				if t.keep(v[1].b) {
					t.m[v[0].n] = slices.Clone(v[1].b)
				}
				return true
			})
			skipped += n
			if err != nil {
				return nil, skipped, err
			}
		}
	}
	items := map[int64][]int{}
	var found []int
	n, err := scanColumns(db, tabs["rpm"], cols, func(v []value) bool {
		name, arch := v[1].b, v[5].b
		if d.dnf5 {
			if v[1].kind != 'i' || v[5].kind != 'i' {
				return false
			}
			name, arch = pkgNames[v[1].n], arches[v[5].n]
		} else if v[1].kind != 't' || v[5].kind != 't' {
			return false
		}
		if v[0].kind != 'i' || v[2].kind != 'i' || v[3].kind != 't' || v[4].kind != 't' {
			return false
		}
		if found = x.find(found[:0], name, arch, v[2].n, v[3].b, v[4].b); len(found) > 0 {
			items[v[0].n] = append(items[v[0].n], found...)
		}
		return true
	})
	return items, skipped + n, err
}

// scanColumns calls fn with the named columns of every row of t; fn returns false for a
// malformed row, which is counted in skipped with the rows that could not be read.
func scanColumns(db *sqliteDB, t table, cols []string, fn func([]value) bool) (skipped int, err error) {
	rr, err := newRowReader(t, cols...)
	if err != nil {
		return 0, err
	}
	rows := 0
	n, err := db.scanRows(t.root, func(rowid int64, rec []byte) error {
		if rows++; rows > maxHistoryRows {
			return errTooManyRows
		}
		v, err := rr.read(rowid, rec)
		if err != nil || !fn(v) {
			skipped++
		}
		return nil
	})
	return skipped + n, err
}

// apply sets the fields of the packages h names.
func (d *dialect) apply(h *dnfHistory, pkgs []model.Package, names map[int64]string) {
	for i, r := range h.recs {
		p := &pkgs[i]
		if r.install > r.removed {
			p.InstalledBy, p.InstallCommand, p.Evidence = installedBy(h.users[r.install], names), h.cmds[r.install], d.evidence
		}
		if r.reasonAt > r.removed {
			if req := requestedBy(r.reason); req != "" {
				p.Requested = req
				if p.Evidence == "" {
					p.Evidence = d.evidence
				}
			}
		}
	}
}

// requestedBy maps libdnf's and libdnf5's TransactionItemReason: USER, GROUP (installed
// with a group the user asked for, which autoremove keeps) and dnf 5's EXTERNAL_USER
// (installed by rpm or another tool, not as anyone's dependency) were asked for; DEPENDENCY
// and WEAK_DEPENDENCY were pulled in; UNKNOWN and CLEAN say nothing.
func requestedBy(reason int64) string {
	switch reason {
	case 2, 5, 6:
		return model.RequestedExplicit
	case 1, 4:
		return model.RequestedDependency
	}
	return ""
}

// installedBy names the login uid dnf recorded. dnf records the audit login uid
// (/proc/self/loginuid), the user who logged in even through sudo; a process started by no
// login (a service, the installer, a container build) has none, which dnf stores as -1 (or
// 4294967295, or 2147483647 on older kernels), and since only root can install, that is
// root.
func installedBy(uid int64, names map[int64]string) string {
	switch uid {
	case -1, 1<<32 - 1, 1<<31 - 1:
		return "root"
	}
	if n, ok := names[uid]; ok {
		return n
	}
	if uid == 0 {
		return "root"
	}
	return "uid:" + strconv.FormatInt(uid, 10)
}

// passwdNames returns the user names of the host's /etc/passwd by uid, the first line of a
// uid winning as getpwuid finds it.
func passwdNames(root hostfs.Root) map[int64]string {
	b, err := root.ReadFile("/etc/passwd", maxPasswd)
	if err != nil {
		return nil
	}
	out := map[int64]string{}
	for line := range splitLines(b) {
		name, rest, _ := cut(line, ':')
		_, rest, _ = cut(rest, ':')
		uid, _, ok := cut(rest, ':')
		if !ok || len(name) == 0 || name[0] == '+' || name[0] == '-' {
			continue
		}
		n, err := strconv.ParseUint(string(uid), 10, 32)
		if _, dup := out[int64(n)]; err != nil || dup {
			continue
		}
		out[int64(n)] = source.Text(name, protocol.MaxNameLen)
	}
	return out
}

// infoStamps returns what the cache key holds of the files installInfo reads.
func infoStamps(root hostfs.Root) []source.Stamp {
	var out []source.Stamp
	for _, p := range infoPaths() {
		var st source.Stamp
		if rp, err := root.Resolve(p); err == nil {
			if fi, err := os.Stat(rp); err == nil {
				st = source.StampOf(fi)
			}
		}
		out = append(out, st)
	}
	return out
}
