"""``_core/_normsq.h`` (``_gradient.level_normsq``'s kernel) compiled each way it
can be: every version gives the same bits.

The extension module is compiled once with GCC's ``target_clones`` (AVX2 and
the baseline) and runs the version the CPU picks, so the other one never runs
here. These tests build the header into a small C driver, once per version
(``MIXEDLM_NO_CLONES`` with ``-march=x86-64``, ``-march=x86-64-v3``; without
the vector extension, ``MIXEDLM_NO_VECTORS``; and with the clones as the
extension has them), run each on the same inputs and compare the results bit
for bit, with each other and with the extension module: the whole sum, the
diagonal, and each level's sum alone (a one-ulp difference within a level is
lost in a sum over many). A version the CPU cannot run (SIGILL) is skipped;
so is everything when no C compiler or no source tree is found. On x86-64
with GCC 12 or newer (the extension's own build) every version must compile.
"""
from __future__ import annotations

import os
import platform
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import _oracle as oracle
import numpy as np
import pytest

HEADER = Path(__file__).resolve().parents[1] / "mixedlm" / "_core" / "_normsq.h"

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "_normsq.h"

static void* load(const char* dir, const char* name, size_t* size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE* f = fopen(path, "rb");
    if (!f) exit(2);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    rewind(f);
    void* p = malloc(*size ? *size : 1);
    if (fread(p, 1, *size, f) != *size) exit(3);
    fclose(f);
    return p;
}

int main(int argc, char** argv)
{
    size_t n;
    const char* dir = argv[1];
    int64_t* dims = load(dir, "dims", &n);   /* nl, m, ldx */
    int64_t* ptr = load(dir, "ptr", &n);
    int32_t* idx = load(dir, "idx", &n);
    double* val = load(dir, "val", &n);
    double* wl = load(dir, "wl", &n);
    double* rs = load(dir, "rscale", &n);
    double* X = load(dir, "X", &n);
    int64_t nl = dims[0], m = dims[1], ldx = dims[2];
    double* diag = malloc(sizeof(double) * (size_t)m);
    double* panel = malloc(sizeof(double) * (size_t)(MIXEDLM_NORMSQ_ROWS * m));
    double total = mixedlm_level_normsq(nl, ptr, idx, val, wl, rs, X, ldx, m, diag, panel);
    FILE* out = fopen(argv[2], "wb");
    fwrite(&total, sizeof(double), 1, out);
    fwrite(diag, sizeof(double), (size_t)m, out);
    for (int64_t l = 0; l < nl; l++) {  /* each level alone: ptr[l]..ptr[l+1] */
        double one = mixedlm_level_normsq(1, ptr + l, idx, val, wl + l, rs, X, ldx, m, diag,
                                          panel);
        fwrite(&one, sizeof(double), 1, out);
    }
    fclose(out);
    return 0;
}
"""

#: name -> extra compiler flags; "clones" is the header as the extension builds it
VERSIONS = {
    "clones": [],
    "baseline": ["-DMIXEDLM_NO_CLONES", "-march=x86-64"],
    "avx2": ["-DMIXEDLM_NO_CLONES", "-march=x86-64-v3"],
    "scalar": ["-DMIXEDLM_NO_CLONES", "-DMIXEDLM_NO_VECTORS"],
}


def _compiler() -> list[str] | None:
    """The C compiler command (``$CC`` may carry a wrapper, as "ccache gcc")."""
    if os.environ.get("CC"):
        cmd = shlex.split(os.environ["CC"])
        return cmd if cmd and shutil.which(cmd[0]) else None
    found = shutil.which("gcc") or shutil.which("cc")
    return [found] if found else None


def _is_gcc12_on_x86_64(cc: list[str]) -> bool:
    """Whether this compiler builds the extension's clones: every version must
    then compile here."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return False
    out = subprocess.run([*cc, "-dM", "-E", "-x", "c", os.devnull], capture_output=True,
                         text=True).stdout
    major = re.search(r"#define __GNUC__ (\d+)", out)
    return "__clang__" not in out and major is not None and int(major.group(1)) >= 12


def _problem(rng, nl: int, m: int, per_level: int):
    """Level-major entries (columns ascending within each level, some levels
    empty, some reaching the diagonal block) and a padded lower-triangular X
    with NaN above the diagonal and in the padding rows (never read)."""
    ptr, idx, val = oracle.random_levels(rng, nl, m, per_level)
    wl, rscale = rng.uniform(0.1, 2.0, nl), rng.uniform(0.5, 1.5, m)
    X = np.full((m + 3, m), np.nan, order="F")
    X[np.tril_indices(m)] = rng.normal(size=m * (m + 1) // 2)
    return ptr, idx, val, wl, rscale, X


def _run(exe: Path, case: Path, out: Path, m: int
         ) -> tuple[float, np.ndarray, np.ndarray] | None:
    """(total, diag, each level's total), or None when the CPU lacks the
    version's instructions (SIGILL)."""
    proc = subprocess.run([str(exe), str(case), str(out)], capture_output=True)
    if proc.returncode == -4 or proc.returncode == 132:  # SIGILL: not this CPU
        return None
    assert proc.returncode == 0, proc.stderr
    res = np.fromfile(out, dtype=np.float64)
    return float(res[0]), res[1:m + 1], res[m + 1:]


@pytest.fixture(scope="module")
def drivers(tmp_path_factory):
    cc = _compiler()
    if cc is None or not HEADER.exists():
        pytest.skip("no C compiler or no source tree: the header is not installed")
    work = tmp_path_factory.mktemp("normsq")
    src = work / "driver.c"
    src.write_text(DRIVER)
    strict = _is_gcc12_on_x86_64(cc)
    built = {}
    for name, flags in VERSIONS.items():
        exe = work / f"driver_{name}"
        # the extension's own flags (mixedlm/_core/meson.build): ISO C, no contraction
        cmd = [*cc, "-O3", "-std=c11", "-ffp-contract=off", *flags, f"-I{HEADER.parent}",
               str(src), "-o", str(exe)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            if name in ("clones", "scalar") or strict:
                pytest.fail(f"the header does not compile as {name} ({' '.join(cmd)}):\n"
                            f"{proc.stderr}")
            continue  # another compiler or CPU family: no -march=x86-64(-v3)
        built[name] = exe
    return work, built


@pytest.mark.parametrize("m", [1, 7, 64, 65, 130, 300])
def test_every_version_gives_the_same_bits(drivers, m):
    """The versions agree bit for bit, with each other and with the extension
    module's ``level_normsq``, and with NumPy to rounding."""
    from mixedlm._core._gradient import level_normsq

    work, built = drivers
    rng = np.random.default_rng(1000 + m)
    ptr, idx, val, wl, rscale, X = _problem(rng, nl=50, m=m, per_level=min(m, 12))
    case = work / f"case_{m}"
    case.mkdir()
    np.array([len(ptr) - 1, m, X.shape[0]], np.int64).tofile(case / "dims")
    ptr.tofile(case / "ptr")
    idx.tofile(case / "idx")
    val[:, 0].tofile(case / "val")
    wl.tofile(case / "wl")
    rscale.tofile(case / "rscale")
    X.T.copy().tofile(case / "X")  # column-major
    ext_total, ext_diag = level_normsq(ptr, idx, val, wl, rscale, X, m)
    ext_levels = np.array([
        level_normsq(np.array([0, b - a], np.int64), idx[a:b], val[a:b], wl[lv:lv + 1],
                     rscale, X, m)[0]
        for lv, (a, b) in enumerate(zip(ptr[:-1], ptr[1:]))])
    ran = []
    for name, exe in built.items():
        got = _run(exe, case, work / f"out_{name}_{m}", m)
        if got is None:
            continue
        ran.append(name)
        total, diag, levels = got
        assert total == ext_total, (name, total, ext_total)
        np.testing.assert_array_equal(diag, ext_diag, err_msg=name)
        np.testing.assert_array_equal(levels, ext_levels, err_msg=name)
    assert "clones" in ran and "scalar" in ran
    L = np.tril(X[:m])
    V = np.zeros((len(ptr) - 1, m))
    for lv in range(len(ptr) - 1):
        V[lv, idx[ptr[lv]:ptr[lv + 1]]] = val[ptr[lv]:ptr[lv + 1], 0]
    want = float(np.sum(wl * np.sum((L @ (rscale * V).T) ** 2, axis=0)))
    assert ext_total == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(ext_diag, np.sum(L ** 2, axis=0), rtol=1e-13)
