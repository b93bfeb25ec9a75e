#!/bin/sh
# Makes the fixture root under testdata/root: a macOS host's application folders, each
# bundle's Contents/Info.plist written by Python's plistlib, binary (as Xcode builds them) or
# XML (as older and hand-made bundles keep them):
#   /Applications/Acme Editor.app      binary, every key, from the App Store (_MASReceipt)
#   /Applications/Utilities/Acme Tool.app   XML, in a folder one level down
#   /Applications/Bare.app             XML, only CFBundleExecutable and CFBundleVersion
#   /Applications/Broken.app           an Info.plist that is neither encoding: skipped
#   /Applications/Suite.app            holds Contents/Helpers/Suite Helper.app, not read
#   /Applications/Deep/More/Deeper.app two levels down: not read
#   /System/Applications/Calculator.app, /System/Applications/Utilities/Terminal.app: macOS's
#   /Users/alice/Applications/Acme Editor.app   an older version in alice's home
#   /Users/Shared/Applications/Shared.app       not a home: not read
# Needs: python3 (plistlib).
set -eu
cd "$(dirname "$0")"
rm -rf root
mkdir -p root
python3 - <<'PY'
import os, plistlib

def app(path, info, fmt=plistlib.FMT_BINARY, receipt=False):
    contents = os.path.join("root", path.lstrip("/"), "Contents")
    os.makedirs(contents, exist_ok=True)
    with open(os.path.join(contents, "Info.plist"), "wb") as f:
        plistlib.dump(info, f, fmt=fmt)
    if receipt:
        os.makedirs(os.path.join(contents, "_MASReceipt"), exist_ok=True)
        with open(os.path.join(contents, "_MASReceipt", "receipt"), "wb") as f:
            f.write(b"\x30\x80 receipt")

def info(name, ident, version, build, minos=None, display=None):
    d = {"CFBundleName": name, "CFBundleIdentifier": ident, "CFBundleExecutable": name,
         "CFBundleShortVersionString": version, "CFBundleVersion": build,
         "CFBundlePackageType": "APPL"}
    if minos:
        d["LSMinimumSystemVersion"] = minos
    if display:
        d["CFBundleDisplayName"] = display
    return d

X = plistlib.FMT_XML
app("/Applications/Acme Editor.app", info("AcmeEditor", "com.acme.editor", "2.4.1", "2410", "12.0", "Acme Editor"), receipt=True)
app("/Applications/Utilities/Acme Tool.app", info("Acme Tool", "com.acme.tool", "1.0", "100", "11.0"), fmt=X)
app("/Applications/Bare.app", {"CFBundleExecutable": "bare", "CFBundleVersion": "7"}, fmt=X)
app("/Applications/Suite.app", info("Suite", "com.acme.suite", "5.0", "500"))
app("/Applications/Suite.app/Contents/Helpers/Suite Helper.app", info("Suite Helper", "com.acme.suite", "5.0", "500"))
app("/Applications/Deep/More/Deeper.app", info("Deeper", "com.acme.deeper", "1", "1"))
app("/System/Applications/Calculator.app", info("Calculator", "com.apple.calculator", "11.0", "210", "14.5"))
app("/System/Applications/Utilities/Terminal.app", info("Terminal", "com.apple.Terminal", "2.14", "453", "14.5"), fmt=X)
app("/Users/alice/Applications/Acme Editor.app", info("AcmeEditor", "com.acme.editor", "2.3.0", "2300", "12.0", "Acme Editor"))
app("/Users/Shared/Applications/Shared.app", info("Shared", "com.acme.shared", "1", "1"))
os.makedirs("root/Applications/Broken.app/Contents")
with open("root/Applications/Broken.app/Contents/Info.plist", "wb") as f:
    f.write(b"\x00not a property list")
PY
