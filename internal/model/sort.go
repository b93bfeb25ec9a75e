package model

import (
	"cmp"
	"slices"
)

// ComparePackages orders packages by source, name, architecture and version: the canonical
// order of Inventory.Software.
func ComparePackages(a, b Package) int {
	return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Name, b.Name),
		cmp.Compare(a.Arch, b.Arch), cmp.Compare(a.Version, b.Version))
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
