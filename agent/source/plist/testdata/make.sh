#!/bin/sh
# Makes the property lists the tests decode with Python's plistlib, in both of its encodings:
# sample.xml and sample.bplist hold the same dict of every type (strings ASCII and not, an
# integer past 2^63 as plistlib writes one, a negative one, reals, booleans, a date, data,
# nested arrays and dicts), info.xml and info.bplist an application's Info.plist.
# Needs: python3 (Debian's python3 has plistlib).
set -eu
cd "$(dirname "$0")"
python3 - <<'PY'
import datetime, plistlib

sample = {
    "String": "hello",
    "Unicode": "Café ☕ 日本",
    "Empty": "",
    "Int": 42,
    "Negative": -7,
    "Big": 2**64 - 1,
    "Real": 3.5,
    "True": True,
    "False": False,
    "Date": datetime.datetime(2024, 5, 1, 12, 30, 15),
    "Data": b"\x00\x01binary\xff",
    "Array": ["a", 1, ["nested", {"k": "v"}]],
    "Dict": {"Inner": {"Deeper": [True, 2.25]}},
}
info = {
    "CFBundleDisplayName": "Acme Editor",
    "CFBundleName": "AcmeEditor",
    "CFBundleExecutable": "acme-editor",
    "CFBundleIdentifier": "com.acme.editor",
    "CFBundleShortVersionString": "2.4.1",
    "CFBundleVersion": "2410",
    "LSMinimumSystemVersion": "12.0",
    "CFBundleURLTypes": [{"CFBundleURLName": "acme", "CFBundleURLSchemes": ["acme"]}],
}
for name, value in (("sample", sample), ("info", info)):
    with open(name + ".xml", "wb") as f:
        plistlib.dump(value, f, fmt=plistlib.FMT_XML)
    with open(name + ".bplist", "wb") as f:
        plistlib.dump(value, f, fmt=plistlib.FMT_BINARY)
PY
