// Package pkgutil reads the installer packages a macOS host installed, from the receipts
// installer(8) leaves, as pkgutil --pkgs lists them, never running it.
//
// The source reads, under the host root, the receipts of /private/var/db/receipts (also
// reached as /var/db/receipts, a link on macOS: a folder reached twice is read once), each
// <identifier>.plist (its .bom, the file list, is not read), and the *.plist receipts of
// /Library/Receipts, where older installers wrote theirs. A receipt is a property list, XML
// or binary, of PackageIdentifier, PackageVersion, InstallDate, InstallPrefixPath and
// InstallProcessName.
//
// Each receipt is a package of format "pkg" named after its identifier (title
// pkg:com.microsoft.Word): its version ("unknown" when the receipt has none), install date,
// the receipt's path as its location, and as labels install_prefix (where its files were
// put, relative to /) and install_process (installer, softwareupdated, storedownloadd…).
// Apple's own packages (com.apple.*) are part of the platform.
package pkgutil

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/agent/source/plist"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

const (
	sourceFormat = "pkg"
	// MaxReceipt bounds one receipt: they are under a KiB.
	MaxReceipt = 256 << 10
	// MaxReceipts bounds the receipts read per pass; past it each counts as skipped.
	MaxReceipts = 20000
)

// Folders are the folders receipts are read in.
var Folders = []string{"/private/var/db/receipts", "/var/db/receipts", "/Library/Receipts"}

// Source reads the receipts of a macOS host.
type Source struct{ root hostfs.Root }

// New returns a pkgutil source reading under root.
func New(root hostfs.Root) *Source {
	if root == "" {
		root = "/"
	}
	return &Source{root: root}
}

// Name implements source.Source.
func (*Source) Name() string { return "pkgutil" }

// PackageFormat implements source.PackageSource.
func (*Source) PackageFormat() string { return sourceFormat }

// WatchPaths implements source.Watcher: the receipt folders.
func (s *Source) WatchPaths() []string {
	out := make([]string, 0, len(Folders))
	for _, f := range Folders {
		out = append(out, s.root.Path(f))
	}
	return out
}

// Collect implements source.Source. A host without a receipt folder is not present.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	var pkgs []model.Package
	present := false
	seen := map[string]bool{}
	n := 0
	for _, f := range Folders {
		real, err := s.root.Resolve(f)
		if err != nil || seen[real] {
			continue
		}
		seen[real] = true
		des, err := s.root.ReadDir(f)
		if err != nil {
			present = present || !hostfs.NotPresent(err)
			continue
		}
		present = true
		for _, de := range des {
			name := de.Name()
			if !strings.HasSuffix(name, ".plist") || strings.HasPrefix(name, ".") || !de.Type().IsRegular() {
				continue
			}
			if n++; n%64 == 0 && ctx.Err() != nil {
				return res, ctx.Err()
			}
			if n > MaxReceipts {
				res.Skipped++
				continue
			}
			p, skipped, ok := s.read(real+"/"+name, f+"/"+name)
			res.Skipped += skipped
			if ok {
				pkgs = append(pkgs, p)
			}
		}
	}
	if !present {
		return res, fmt.Errorf("pkgutil: %w", source.ErrNotPresent)
	}
	res.Software = source.MergeCopies(pkgs)
	return res, nil
}

// read makes the package of the receipt at real (host path p). ok is false for a receipt
// that cannot be read or has no identifier, which counts as skipped.
func (s *Source) read(real, p string) (model.Package, int, bool) {
	b, err := source.ReadRegular(real, MaxReceipt)
	if err != nil {
		return model.Package{}, 1, false
	}
	d, err := plist.DecodeDict(b)
	if err != nil {
		return model.Package{}, 1, false
	}
	r := ReceiptOf(d)
	if r.ID == "" {
		return model.Package{}, 1, false
	}
	pkg, dropped := r.Package(p)
	return pkg, dropped, true
}

// Receipt is what a receipt says of a package.
type Receipt struct {
	ID, Version, Prefix, Process string
	Installed                    time.Time
}

// ReceiptOf reads a receipt's keys.
func ReceiptOf(d plist.Dict) Receipt {
	r := Receipt{
		ID:      source.Text([]byte(strings.TrimSpace(d.String("PackageIdentifier"))), protocol.MaxNameLen),
		Version: strings.TrimSpace(d.String("PackageVersion")),
		Prefix:  d.String("InstallPrefixPath"),
		Process: d.String("InstallProcessName"),
	}
	r.Installed, _ = d.Time("InstallDate")
	return r
}

// Package makes the package of receipt r at host path p; dropped counts the labels left out.
func (r Receipt) Package(p string) (model.Package, int) {
	version := r.Version
	if version == "" {
		version = "unknown"
	}
	pkg := model.Package{
		Source:      sourceFormat,
		Name:        r.ID,
		Version:     source.Text([]byte(version), protocol.MaxFieldLen),
		InstallTime: r.Installed,
		InstallInfo: model.InstallInfo{
			Location: source.Text([]byte(p), protocol.MaxFieldLen),
			Platform: strings.HasPrefix(r.ID, "com.apple."),
		},
	}
	labels := map[string]string{}
	if r.Prefix != "" {
		labels["install_prefix"] = r.Prefix
	}
	if r.Process != "" {
		labels["install_process"] = r.Process
	}
	var dropped int
	pkg.Labels, dropped = source.Labels(labels)
	return pkg, dropped
}
