//go:build !unix

package gobin

// uidOf returns nothing where files have no uid.
func uidOf(any) (uint32, bool) { return 0, false }
