#!/bin/sh
# Makes the fixture root under testdata/root: a macOS host's package receipts, written by
# Python's plistlib as installer(8) writes them (XML; binary ones as some installers leave):
# Apple's own in /private/var/db/receipts (/var/db/receipts is the link to it macOS has),
# a vendor's, one from the App Store, one without a version, one without an identifier and
# one that is no property list (both skipped), a .bom beside them, and an old receipt in
# /Library/Receipts.
# Needs: python3 (plistlib).
set -eu
cd "$(dirname "$0")"
rm -rf root
mkdir -p root/private/var/db/receipts root/var root/Library/Receipts
ln -s ../private/var/db root/var/db
python3 - <<'PY'
import datetime, plistlib

def receipt(path, d, fmt=plistlib.FMT_XML):
    with open("root" + path, "wb") as f:
        plistlib.dump(d, f, fmt=fmt)

R = "/private/var/db/receipts/"
receipt(R + "com.apple.pkg.CLTools_Executables.plist", {
    "PackageIdentifier": "com.apple.pkg.CLTools_Executables", "PackageVersion": "15.3.0.0.1.1708646388",
    "InstallDate": datetime.datetime(2024, 5, 20, 9, 0, 0), "InstallPrefixPath": "/",
    "InstallProcessName": "softwareupdated", "PackageFileName": "CLTools_Executables.pkg"})
receipt(R + "com.acme.agent.plist", {
    "PackageIdentifier": "com.acme.agent", "PackageVersion": "3.2.1",
    "InstallDate": datetime.datetime(2024, 6, 1, 14, 30, 0), "InstallPrefixPath": "opt/acme",
    "InstallProcessName": "installer"}, fmt=plistlib.FMT_BINARY)
receipt(R + "com.acme.store.plist", {
    "PackageIdentifier": "com.acme.store", "PackageVersion": "1.0",
    "InstallDate": datetime.datetime(2024, 6, 2, 8, 0, 0), "InstallPrefixPath": "Applications",
    "InstallProcessName": "storedownloadd"})
receipt(R + "com.acme.noversion.plist", {"PackageIdentifier": "com.acme.noversion"})
receipt(R + "com.acme.noid.plist", {"PackageVersion": "1"})
receipt("/Library/Receipts/com.acme.legacy.plist", {
    "PackageIdentifier": "com.acme.legacy", "PackageVersion": "0.9",
    "InstallDate": datetime.datetime(2015, 1, 1, 0, 0, 0), "InstallProcessName": "Installer"})
open("root" + R + "com.acme.agent.bom", "wb").write(b"BOMStore")
open("root" + R + "com.acme.garbage.plist", "wb").write(b"<plist><dict><key>x")
PY
