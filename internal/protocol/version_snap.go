package protocol

// Snap versions are free strings of at most 32 characters that snapd never orders: it updates
// to whatever revision the store holds for the tracked channel. The plain segment ordering
// only tells whether a changed version is called an upgrade or a downgrade.
func init() { versionOrders["snap"] = CompareSegments }
