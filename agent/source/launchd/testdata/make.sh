#!/bin/sh
# Makes the fixture root testdata/root, a Mac's launchd job directories, with Python's
# plistlib: jobs in both encodings, XML (FMT_XML) and binary (FMT_BINARY), as macOS and
# installers write them (Apple's own after macOS's, a third-party daemon and agent, a hidden
# agent, launchctl's overrides, Homebrew's `brew services` agent in a home, the onus agent's own job copied from
# deploy/launchd). Needs: python3.
set -eu
cd "$(dirname "$0")"
rm -rf root
python3 - <<'PY'
import os, plistlib

def job(path, fmt, **keys):
    full = "root" + path
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        plistlib.dump(keys, f, fmt=plistlib.FMT_BINARY if fmt == "binary" else plistlib.FMT_XML)

job("/System/Library/LaunchDaemons/com.openssh.sshd.plist", "binary",
    Label="com.openssh.sshd", Disabled=True,
    Program="/usr/libexec/sshd-keygen-wrapper", ProgramArguments=["/usr/sbin/sshd", "-i"],
    Sockets={"Listeners": {"SockServiceName": "ssh", "Bonjour": ["ssh", "sftp-ssh"]}},
    inetdCompatibility={"Wait": False}, StandardErrorPath="/dev/null",
    SHAuthorizationRight="system.preferences", POSIXSpawnType="Interactive")
job("/System/Library/LaunchDaemons/com.apple.metadata.mds.plist", "binary",
    Label="com.apple.metadata.mds", KeepAlive=True, RunAtLoad=True,
    ProgramArguments=["/System/Library/Frameworks/CoreServices.framework/Frameworks/Metadata.framework/Support/mds"],
    MachServices={"com.apple.metadata.mds": True}, POSIXSpawnType="Adaptive", UserName="root")
job("/System/Library/LaunchAgents/com.apple.Finder.plist", "xml",
    Label="com.apple.Finder", KeepAlive={"SuccessfulExit": False}, RunAtLoad=False,
    LimitLoadToSessionType="Aqua", POSIXSpawnType="App",
    ProgramArguments=["/System/Library/CoreServices/Finder.app/Contents/MacOS/Finder"])
job("/Library/LaunchDaemons/com.docker.vmnetd.plist", "xml",
    Label="com.docker.vmnetd", Program="/Library/PrivilegedHelperTools/com.docker.vmnetd",
    ProgramArguments=["/Library/PrivilegedHelperTools/com.docker.vmnetd"], KeepAlive=True, RunAtLoad=True,
    Sockets={"Listener": {"SockPathMode": 438, "SockPathName": "/var/run/com.docker.vmnetd.sock"}})
job("/Library/LaunchDaemons/com.example.backup.plist", "binary",
    Label="com.example.backup", ProgramArguments=["/usr/local/libexec/backup", "--nightly"],
    UserName="_backup", StartCalendarInterval={"Hour": 3, "Minute": 15})
job("/Library/LaunchAgents/.com.hidden.updater.plist", "xml",
    Label="com.hidden.updater", ProgramArguments=["/Users/Shared/.updater/run"], RunAtLoad=True)
job("/Users/alice/Library/LaunchAgents/homebrew.mxcl.redis.plist", "xml",
    Label="homebrew.mxcl.redis", KeepAlive=True, RunAtLoad=True,
    LimitLoadToSessionType=["Aqua", "Background", "LoginWindow", "StandardIO", "System"],
    ProgramArguments=["/opt/homebrew/opt/redis/bin/redis-server", "/opt/homebrew/etc/redis.conf"],
    WorkingDirectory="/opt/homebrew/var", StandardErrorPath="/opt/homebrew/var/log/redis.log",
    StandardOutPath="/opt/homebrew/var/log/redis.log")
job("/Users/alice/Library/LaunchAgents/com.google.keystone.agent.plist", "binary",
    Label="com.google.keystone.agent", LimitLoadToSessionType="Aqua", StartInterval=3623,
    ProgramArguments=["/Users/alice/Library/Google/GoogleSoftwareUpdate/GoogleSoftwareUpdate.bundle/Contents/Resources/GoogleSoftwareUpdateAgent.app/Contents/MacOS/GoogleSoftwareUpdateAgent", "-runMode", "ifneeded"])
# launchctl's overrides of the system domain: Remote Login turned on (sshd enabled against its
# Disabled key), Docker's helper disabled. A user's, disabled.<uid>.plist, names the uid of
# the checkout's owner and is left to the tests.
job("/private/var/db/com.apple.xpc.launchd/disabled.plist", "xml",
    **{"com.openssh.sshd": False, "com.docker.vmnetd": True, "com.apple.ftpd": True})
# The same label as an Apple agent's in bob's own directory: his copy, named bob/….
job("/Users/bob/Library/LaunchAgents/com.apple.Finder.plist", "xml",
    Label="com.apple.Finder", ProgramArguments=["/Users/bob/bin/finder-wrapper"])
PY
cp ../../../../deploy/launchd/com.onus-project.onus-agent.plist root/Library/LaunchDaemons/
printf 'not a job\n' >root/Library/LaunchDaemons/README
mkdir -p root/Users/Shared/Library/LaunchAgents
: >root/Users/Shared/Library/LaunchAgents/.keep
