#!/usr/bin/env bash
# Side-by-side benchmark: mixedlm vs lme4 (R) vs the Python peers.
#
# Usage: bash bench/run.sh [--install-r] [--quick] [other compare.py options]
#
#   --install-r   apt-get install R, lme4 (and jsonlite) when they are missing
#                 (otherwise lme4 is skipped with a note)
#   --quick       only sleepstudy and InstEval service*dept
#   --native-blas unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for every
#                 package, so that each OpenBLAS picks its kernels for this CPU
#                 (an inherited OPENBLAS_CORETYPE fixes them for all alike)
#   anything else is passed to bench/compare.py (--skip-scale, --skip-peers,
#   --skip-lme4, --threads 1 2, --reps-big N, ...)
#
# The Python peers (glmm, and the unrelated Rust package that owns the PyPI
# name "mixedlm") are installed, pinned, each in its own throw-away venv under
# bench/.envs/ -- never in the project's .venv.  Results: bench/results.md and
# bench/results.json.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
envs="$here/.envs"

install_r=0
args=()
for a in "$@"; do
  case "$a" in
    --install-r) install_r=1 ;;
    --native-blas) unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) args+=("$a") ;;
  esac
done

note() { printf '[run.sh] %s\n' "$*" >&2; }

# --- Python for the orchestrator and for mixedlm: the project's dev venv ---
if [[ -x "$root/.venv/bin/python" ]]; then
  py="$root/.venv/bin/python"
else
  py="${PYTHON:-python3}"
  note "no $root/.venv; using $py for mixedlm (it must be able to import mixedlm)"
fi
base_py="${PEER_PYTHON:-python3}"   # interpreter the peer venvs are created from

# --- R and lme4 ---
if ! command -v Rscript >/dev/null 2>&1 || ! Rscript -e 'suppressMessages({library(lme4); library(jsonlite)})' >/dev/null 2>&1; then
  if [[ $install_r -eq 1 ]]; then
    note "installing R and lme4 with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y --no-install-recommends r-base-core r-cran-lme4 r-cran-jsonlite
  else
    note "R/lme4 not available: lme4 will be skipped (use --install-r)"
  fi
fi

# --- peer venvs (pinned; override with GLMM_SPEC / MIXEDLM_RUST_SPEC) ---
setup_peer() {  # name, pip spec, python statement that must succeed
  local name="$1" spec="$2" check="$3" dir="$envs/$1"
  # Import check from a neutral folder: with `-c` the current directory is on
  # sys.path, and from the repo root `import mixedlm` would find OUR package.
  if [[ -x "$dir/bin/python" ]] && (cd "$envs" && "$dir/bin/python" -c "$check") >/dev/null 2>&1; then
    return 0
  fi
  note "creating $dir with $spec"
  rm -rf "$dir"
  if "$base_py" -m venv "$dir" \
     && "$dir/bin/pip" install -q --disable-pip-version-check "$spec" pandas threadpoolctl; then
    return 0
  fi
  note "could not install $spec: $name will be skipped"
  rm -rf "$dir"
}
mkdir -p "$envs"
setup_peer glmm "${GLMM_SPEC:-glmm==0.6.2}" "import glmm; glmm.fit"
setup_peer mixedlm_rust "${MIXEDLM_RUST_SPEC:-mixedlm==1.3.0}" "import mixedlm; mixedlm.lmer"

cd "$root"
exec "$py" "$here/compare.py" ${args[@]+"${args[@]}"}
