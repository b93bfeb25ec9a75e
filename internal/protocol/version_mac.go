package protocol

// macOS orders neither of these versions itself. An application bundle's version
// (CFBundleShortVersionString, else CFBundleVersion) is by Apple's rule up to three
// period-separated integers, but any string in practice ("2024.1 (beta)"); Software Update
// and the App Store compare their catalogue's builds, not this. A package receipt's
// PackageVersion is whatever the package's author wrote, and installer(8) installs over it
// whatever it is. The plain segment ordering, numbers numerically, tells whether a changed
// version is called an upgrade or a downgrade.
func init() {
	versionOrders["macapp"] = CompareSegments
	versionOrders["pkg"] = CompareSegments
}
