#!/bin/sh
# Makes macos14, a small macOS 14.5 host root, with Python's plistlib writing every property
# list as macOS does: SystemVersion.plist and the system configuration's preferences (XML),
# an App Store application with a binary Info.plist, a vendor's with an XML one, one of
# macOS's own in /System/Applications, one in a user's ~/Applications, package receipts
# (Apple's and a vendor's) and a launchd daemon.
# Needs: python3 (plistlib).
set -eu
cd "$(dirname "$0")"
rm -rf macos14
mkdir -p macos14
python3 - <<'PY'
import datetime, os, plistlib

B, X = plistlib.FMT_BINARY, plistlib.FMT_XML

def write(path, value, fmt=X):
    path = os.path.join("macos14", path.lstrip("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        plistlib.dump(value, f, fmt=fmt)

def app(path, name, ident, version, build, minos, fmt):
    write(path + "/Contents/Info.plist", {
        "CFBundleName": name, "CFBundleIdentifier": ident, "CFBundleExecutable": name,
        "CFBundleShortVersionString": version, "CFBundleVersion": build,
        "LSMinimumSystemVersion": minos, "CFBundlePackageType": "APPL"}, fmt)

write("/System/Library/CoreServices/SystemVersion.plist", {
    "ProductBuildVersion": "23F79", "ProductCopyright": "1983-2024 Apple Inc.",
    "ProductName": "macOS", "ProductUserVisibleVersion": "14.5", "ProductVersion": "14.5",
    "iOSSupportVersion": "17.5"})
write("/Library/Preferences/SystemConfiguration/preferences.plist", {
    "System": {"System": {"ComputerName": "Alice's MacBook", "HostName": "mac-alice.example.com"}},
    "Network": {"HostNames": {"LocalHostName": "Alices-MacBook"}}}, B)
app("/Applications/Acme Editor.app", "Acme Editor", "com.acme.editor", "2.4.1", "2410", "12.0", B)
os.makedirs("macos14/Applications/Acme Editor.app/Contents/_MASReceipt")
open("macos14/Applications/Acme Editor.app/Contents/_MASReceipt/receipt", "wb").write(b"\x30\x80")
app("/Applications/Utilities/Acme VPN.app", "Acme VPN", "com.acme.vpn", "5.1", "51", "13.0", X)
app("/System/Applications/Calculator.app", "Calculator", "com.apple.calculator", "11.0", "210", "14.5", B)
app("/Users/alice/Applications/Sketchpad.app", "Sketchpad", "org.example.sketchpad", "0.9.3", "93", "11.0", X)
R = "/private/var/db/receipts/"
write(R + "com.apple.pkg.MobileDevice.plist", {
    "PackageIdentifier": "com.apple.pkg.MobileDevice", "PackageVersion": "1.0.0.0.1.1711770221",
    "InstallDate": datetime.datetime(2024, 5, 14, 10, 0, 0), "InstallPrefixPath": "/",
    "InstallProcessName": "softwareupdated"})
write(R + "com.acme.vpn.plist", {
    "PackageIdentifier": "com.acme.vpn", "PackageVersion": "5.1.0",
    "InstallDate": datetime.datetime(2024, 6, 1, 9, 30, 0), "InstallPrefixPath": "/",
    "InstallProcessName": "installer"}, B)
write("/Library/LaunchDaemons/com.acme.vpn.helper.plist", {
    "Label": "com.acme.vpn.helper", "ProgramArguments": ["/Library/PrivilegedHelperTools/com.acme.vpn.helper"],
    "RunAtLoad": True, "KeepAlive": True})
PY
