package protocol

// Flatpak versions are the AppStream release versions of an app or runtime (its branch, or a
// commit, where it declares none), free text that flatpak never orders: it deploys whatever
// commit the remote's branch points to. The plain segment ordering only tells whether a
// changed version is called an upgrade or a downgrade.
func init() { versionOrders["flatpak"] = CompareSegments }
