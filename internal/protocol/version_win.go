package protocol

// Windows programs (format "win", the agent's winprog source) carry the DisplayVersion their
// installer wrote under the Uninstall key: free text that Windows never orders. An MSI's
// ProductVersion is major.minor.build, numbers that the plain segment ordering compares as
// Windows Installer does for its first three fields; other installers write anything
// ("1.2.3.4", "24.08", "2024 R2"), which it only tells apart as an upgrade or a downgrade.
func init() { versionOrders["win"] = CompareSegments }
