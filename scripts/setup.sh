#!/usr/bin/env bash
# Idempotent set-up of a development environment for mixedlm (distribution
# "pymixedlm") on Debian bookworm with python3 (3.10+) and gcc.
#
#   1. apt: libsuitesparse-dev (CHOLMOD for scikit-sparse), libopenblas0-pthread,
#      and python3-dev / python3-venv only if python3 lacks Python.h / venv.
#      Packages already installed are skipped; apt-get update runs only if
#      something has to be installed.
#   2. .venv/ at the repository root (created if missing).
#   3. pip: build dependencies, then the package itself from this work tree as
#      an editable install (meson-python rebuilds the kernels on import).
#      Skipped when .venv/.setup-stamp holds the hash of pyproject.toml and of
#      this script, so a second run takes about a second.
#
# Never `pip install mixedlm`: that name on PyPI belongs to an unrelated project.
# Environment: PYTHON (default python3) selects the interpreter for the venv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
STAMP="$VENV/.setup-stamp"

say() { printf 'setup: [%3ds] %s\n' "$SECONDS" "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (need Python >= 3.10)"
"$PYTHON" -c 'import sys; raise SystemExit(sys.version_info < (3, 10))' \
    || die "$PYTHON is $("$PYTHON" -V 2>&1); need Python >= 3.10"

# --- 1. Debian packages -------------------------------------------------------
installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

missing=()
for pkg in libsuitesparse-dev libopenblas0-pthread; do
    installed "$pkg" || missing+=("$pkg")
done
if ! "$PYTHON" -c 'import os, sysconfig; raise SystemExit(not os.path.isfile(
        os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null; then
    installed python3-dev || missing+=(python3-dev)
fi
if [ ! -x "$VENV/bin/python" ] && ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    installed python3-venv || missing+=(python3-venv)
fi
if ! command -v cc >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1; then
    missing+=(gcc libc6-dev)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=""
    elif command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        die "need root or sudo to install: ${missing[*]}"
    fi
    say "apt: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    say "apt: libsuitesparse-dev, libopenblas0-pthread present"
fi

# --- 2. virtual environment ---------------------------------------------------
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c '' 2>/dev/null; then
    say "venv: creating .venv with $("$PYTHON" -V 2>&1)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
else
    say "venv: .venv exists"
fi

# --- 3. pip (skipped when the stamp matches) ---------------------------------
hash="$(cat pyproject.toml scripts/setup.sh "$VENV/pyvenv.cfg" | sha256sum | cut -d' ' -f1)"
have_dist() { compgen -G "$VENV/lib/python3*/site-packages/pymixedlm-*.dist-info" >/dev/null; }
have_build() { compgen -G "$ROOT/build/*/build.ninja" >/dev/null; }

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$hash" ] && have_dist && have_build; then
    say "pip: up to date (stamp matches pyproject.toml and setup.sh); skipping"
    exit 0
fi

rm -f "$STAMP"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
say "pip: upgrading pip"
"${PIP[@]}" install --upgrade pip
say "pip: installing build dependencies"
"${PIP[@]}" install "meson-python>=0.16" "meson>=1.4" "cython>=3.0" "ninja" \
    "numpy>=2.0" "scipy>=1.11" "setuptools" "wheel"
say "pip: installing pymixedlm (editable, from $ROOT) with [test,bench] extras"
"${PIP[@]}" install --no-build-isolation -e "$ROOT[test,bench]"
printf '%s\n' "$hash" > "$STAMP"
say "done: pymixedlm installed (editable) in .venv with $("$VENV/bin/python" -V 2>&1)"
