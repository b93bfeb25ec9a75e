#!/bin/sh
# Makes the fixture root under testdata/root with pip itself (no index: PyPI is not needed).
# Three tiny projects are built into wheels with Debian's python3 and setuptools:
# acme-core 1.2.0, Acme.Tool_CLI 2.0.0rc1 (depends on acme-core) and acme-stray 0.1; a fourth,
# legacy-thing 0.9, is installed the old way, `setup.py install`, which leaves an egg-info
# directory, and a fifth, old_distutils 1.0, with distutils, which leaves an egg-info file,
# into bob's ~/.local.
# They are installed
#   - as root with Debian's pip into /usr/local/lib/python3.11/dist-packages (Acme.Tool_CLI
#     requested, acme-core its dependency), where legacy-thing's egg-info goes too;
#   - with `pip install --user` into alice's ~/.local (acme-core again: one package, a copy);
#   - with pyenv's Python 3.12 into bob's ~/.pyenv/versions/3.12.1;
#   - into a virtual environment made by `python3 -m venv` as pipx lays one out,
#     alice's ~/.local/share/pipx/venvs/acme-tool-cli, and as uv lays out a tool,
#     bob's ~/.local/share/uv/tools/acme-core (uv is not in Debian 12: pip installs, and
#     INSTALLER says uv as uv writes it);
#   - with `pip install --target` into /usr/lib/python3/dist-packages (acme-stray: no
#     package lists it, so it is reported).
# Debian's python3-six is unpacked there with dpkg -x, its file list written as dpkg writes
# /var/lib/dpkg/info/python3-six.list: it is deb software, not pypi.
# The modules are emptied and compiled files removed: only the metadata is read.
# Needs: apt-get install -y python3-pip python3-venv python3-setuptools python3-wheel; pyenv's
# Python 3.12 in /root/.pyenv (PYENV_PY to use another).
set -eu
cd "$(dirname "$0")"
rm -rf root build
mkdir -p root/etc build/wheels
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'alice:x:1000:1000::/home/alice:/bin/sh' \
	'bob:x:1001:1001::/home/bob:/bin/sh' >root/etc/passwd
PY=${PY:-/usr/bin/python3}
PYENV_PY=${PYENV_PY:-/root/.pyenv/versions/3.12.1/bin/python3.12}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INDEX=1 PIP_ROOT_USER_ACTION=ignore PYTHONDONTWRITEBYTECODE=1
unset PIP_REQUIRE_VIRTUALENV PYTHONUSERBASE

project() { # dir name version summary [requires]
	mkdir -p "$1/src/$(echo "$2" | tr 'A-Z.-' 'a-z__')"
	: >"$1/src/$(echo "$2" | tr 'A-Z.-' 'a-z__')/__init__.py"
	cat >"$1/pyproject.toml" <<-EOF
		[build-system]
		requires = ["setuptools"]
		build-backend = "setuptools.build_meta"
		[project]
		name = "$2"
		version = "$3"
		description = "$4"
		dependencies = [${5:-}]
	EOF
}
project build/core acme-core 1.2.0 "Core of the Acme tools"
project build/tool Acme.Tool_CLI 2.0.0rc1 "The Acme command line" '"acme-core>=1.0"'
project build/stray acme-stray 0.1 "Installed by hand where Debian keeps its own"
for p in core tool stray; do
	"$PY" -m pip wheel --quiet --no-build-isolation --no-deps -w build/wheels "build/$p"
done
pip() { "$PY" -m pip install --quiet --break-system-packages --find-links build/wheels "$@"; }

# Debian's pip as root: /usr/local/lib/python3.11/dist-packages.
pip --root "$PWD/root" Acme.Tool_CLI
mkdir -p build/legacy
cat >build/legacy/setup.py <<'EOF'
from setuptools import setup
setup(name="legacy-thing", version="0.9", description="Installed by setup.py install", py_modules=["legacy_thing"])
EOF
: >build/legacy/legacy_thing.py
(cd build/legacy && "$PY" setup.py --quiet install --root "$OLDPWD/root" --prefix /usr/local \
	--single-version-externally-managed --record /dev/null 2>/dev/null)
# distutils' own install, which writes the egg-info as one file, as bob with --user.
mkdir -p build/distutils
cat >build/distutils/setup.py <<'EOF'
from distutils.core import setup
setup(name="old_distutils", version="1.0", description="Installed by distutils", py_modules=["old_distutils"])
EOF
: >build/distutils/old_distutils.py
(cd build/distutils && SETUPTOOLS_USE_DISTUTILS=stdlib PYTHONUSERBASE="$OLDPWD/root/home/bob/.local" \
	"$PY" -W ignore setup.py --quiet install --user >/dev/null)
# pip install --user as alice.
PYTHONUSERBASE="$PWD/root/home/alice/.local" pip --user acme-core
# pyenv's Python as bob.
"$PYENV_PY" -m pip install --quiet --find-links build/wheels --prefix "$PWD/root/home/bob/.pyenv/versions/3.12.1" acme-core
# A pipx venv and a uv tool.
venv() { # dir requirement
	"$PY" -m venv --without-pip "$1"
	"$PY" -m pip --python "$1/bin/python" install --quiet --find-links build/wheels "$2"
}
venv root/home/alice/.local/share/pipx/venvs/acme-tool-cli Acme.Tool_CLI
venv root/home/bob/.local/share/uv/tools/acme-core acme-core
for f in root/home/bob/.local/share/uv/tools/acme-core/lib/python3*/site-packages/*.dist-info/INSTALLER; do
	echo uv >"$f"
done
printf '[tool]\nrequirements = [{ name = "acme-core" }]\n' >root/home/bob/.local/share/uv/tools/acme-core/uv-receipt.toml
# By hand into Debian's directory, and Debian's python3-six there with its file list.
pip --target "$PWD/root/usr/lib/python3/dist-packages" --no-deps acme-stray
(cd build && apt-get download python3-six >/dev/null 2>&1)
dpkg -x build/python3-six_*.deb root
rm -rf root/usr/share
mkdir -p root/var/lib/dpkg/info
dpkg -c build/python3-six_*.deb | awk '{print $6}' | sed -e 's|^\./$|/.|' -e 's|^\.||' -e 's|/$||' \
	>root/var/lib/dpkg/info/python3-six.list

# Only the metadata is read: no modules, scripts, compiled files or interpreters.
find root -name __pycache__ -prune -exec rm -rf {} +
find root -name '*.py' -exec sh -c ': >"$1"' _ {} \;
rm -rf root/usr/local/bin root/home/*/.local/bin root/home/*/.pyenv/versions/*/bin
rm -rf root/home/*/.local/share/*/*/*/bin
find root -type l -delete
sed -i "s|$PWD/root||" root/home/*/.local/share/*/*/*/pyvenv.cfg
rm -rf build
