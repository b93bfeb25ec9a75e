#!/bin/sh
# Makes the registry fixtures under registry/ from a real Wine prefix: the Acme Widget MSI of
# wine/acme.wxs built with wixl and installed by Wine's msiexec (which writes its Uninstall
# key as Windows Installer does), programs registered with reg add in the 64-bit view, the
# 32-bit view (/reg:32) and the user's hive (HKCU), then each key exported with reg export
# (UTF-16LE with a byte order mark, "Windows Registry Editor Version 5.00"), with Wine's own
# services. users.reg, a second user's hive and profile, is written by hand in the older
# REGEDIT4 form, and services-extra.reg, services of kinds Wine does not install, by hand too.
# Needs: wine64 msitools wixl (Debian 12). Run from this directory.
set -eu
here=$(pwd)
tmp=$(mktemp -d)
trap 'WINEPREFIX=$tmp/prefix wineserver -k 2>/dev/null || true; rm -rf "$tmp"' EXIT
export WINEPREFIX=$tmp/prefix WINEDEBUG=-all
W=/usr/lib/wine/wine64
$W wineboot --init >/dev/null 2>&1
(cd wine && wixl -a x64 -o "$tmp/acme.msi" acme.wxs)
$W msiexec /i "$tmp/acme.msi" /qn

U='HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall'
add() { key=$1; shift; $W reg add "$key" "$@" /f >/dev/null; }
# Two keys of one program: one package, a copy.
add "$U\\NotepadPlus" /v DisplayName /d 'Notepad Plus'
add "$U\\NotepadPlus" /v DisplayVersion /d '8.6'
add "$U\\NotepadPlus" /v Publisher /d 'Notepad Plus Team'
add "$U\\NotepadPlus" /v InstallDate /d '2023-03-07'
add "$U\\NotepadPlus" /v EstimatedSize /t REG_DWORD /d 4096
add "$U\\NotepadPlus" /v InstallLocation /t REG_EXPAND_SZ /d '%ProgramFiles%\Notepad Plus'
add "$U\\NotepadPlus_copy" /v DisplayName /d 'Notepad Plus'
add "$U\\NotepadPlus_copy" /v DisplayVersion /d '8.6'
# Hidden: a system component, an update of the MSI product, a key without a name.
add "$U\\AcmeRuntime" /v DisplayName /d 'Acme Runtime Component'
add "$U\\AcmeRuntime" /v SystemComponent /t REG_DWORD /d 1
add "$U\\KB5001" /v DisplayName /d 'Security Update for Acme Widget (KB5001)'
add "$U\\KB5001" /v ParentKeyName /d '{6D0E5B8A-6C2E-4F7B-9A51-3C1D2E4F5A61}'
add "$U\\KB5001" /v ReleaseType /d 'Security Update'
add "$U\\Orphan" /v UninstallString /d 'C:\orphan\uninstall.exe'
# Quotes and backslashes in strings, a multi-string, a binary value, a QWORD size, a
# service pack that Add/Remove Programs shows (no ParentKeyName).
add "$U\\Quoted" /v DisplayName /d 'Acme "Quoted" Tool'
add "$U\\Quoted" /v DisplayVersion /d '2.0 beta'
add "$U\\Quoted" /v InstallLocation /d 'C:\Program Files\Acme\Quoted\'
add "$U\\Quoted" /v Comments /t REG_MULTI_SZ /d 'one\0two'
add "$U\\Quoted" /v Blob /t REG_BINARY /d 0102fe
add "$U\\Quoted" /v EstimatedSize /t REG_QWORD /d 10
add "$U\\Quoted" /v ReleaseType /d 'Service Pack'
add "$U\\Quoted" /v InstallDate /d '07.03.2023'
# The 32-bit view: the same name and version as the MSI product, another architecture.
add "$U\\AcmeWidget32" /v DisplayName /d 'Acme Widget' /reg:32
add "$U\\AcmeWidget32" /v DisplayVersion /d '1.2.3' /reg:32
add "$U\\AcmeWidget32" /v Publisher /d 'Acme Corp' /reg:32
add "$U\\AcmeWidget32" /v InstallDate /d '3/7/2023' /reg:32
add "$U\\Legacy32" /v DisplayName /d 'Legacy Tool' /reg:32
add "$U\\Legacy32" /v InstallDate /d 'sometime' /reg:32
# The user's hive (HKCU is HKU\S-1-5-21-0-0-0-1000 in Wine).
C='HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall'
add "$C\\AcmeSync" /v DisplayName /d 'Acme Sync'
add "$C\\AcmeSync" /v DisplayVersion /d '3.1.0'
add "$C\\AcmeSync" /v Publisher /d 'Acme Corp'
add "$C\\AcmeSync" /v InstallDate /d '20240115'

mkdir -p registry
export_key() { $W reg export "$1" "$tmp/out.reg" /y >/dev/null; cp "$tmp/out.reg" "registry/$2"; }
export_key "$U" uninstall64.reg
export_key 'HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall' uninstall32.reg
export_key 'HKU\S-1-5-21-0-0-0-1000\Software\Microsoft\Windows\CurrentVersion\Uninstall' user-1000.reg
export_key 'HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList' profilelist.reg
export_key 'HKLM\SYSTEM\CurrentControlSet\Services' services.reg
cd "$here"
