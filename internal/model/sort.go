package model

import (
	"cmp"
	"slices"
)

// ComparePackages orders packages by source, name, architecture and version: the canonical
// order of Inventory.Software, of the package sources' lists and of the stored records.
func ComparePackages(a, b Package) int {
	return ComparePackageKeys(a.Source, a.Name, a.Arch, a.Version, b.Source, b.Name, b.Arch, b.Version)
}

// ComparePackageKeys is the one package order, on the fields that identify a package,
// for the types that hold them without being a Package (the protocol's package keys, the
// stored installations): source, then name, then architecture, then version, each byte by
// byte. The version is compared as a string, not by its package manager's ordering: this
// order only has to be total and the same everywhere.
func ComparePackageKeys(aSource, aName, aArch, aVersion, bSource, bName, bArch, bVersion string) int {
	return cmp.Or(cmp.Compare(aSource, bSource), cmp.Compare(aName, bName),
		cmp.Compare(aArch, bArch), cmp.Compare(aVersion, bVersion))
}

// CompareServices orders services by manager and name.
func CompareServices(a, b Service) int {
	return cmp.Or(cmp.Compare(a.Manager, b.Manager), cmp.Compare(a.Name, b.Name))
}

// CompareListeners orders listeners by protocol, port, address and PID.
func CompareListeners(a, b Listener) int {
	return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port),
		cmp.Compare(a.Address, b.Address), cmp.Compare(a.PID, b.PID))
}

// Sort puts an inventory's lists in their canonical order, so that equal inventories encode
// to equal bytes.
func Sort(inv *Inventory) {
	slices.SortFunc(inv.Software, ComparePackages)
	slices.SortFunc(inv.Services, CompareServices)
	slices.SortFunc(inv.Listeners, CompareListeners)
}
