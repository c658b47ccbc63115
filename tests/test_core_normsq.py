"""``_core/_normsq.h`` (``_gradient.level_normsq``'s kernel) compiled each way it
can be: every version gives the same bits.

The extension module is compiled once with GCC's ``target_clones`` (AVX2 and
the baseline) and runs the version the CPU picks, so the other one never runs
here. These tests build the header into a small C driver, once per version
(``MIXEDLM_NO_CLONES`` with ``-march=x86-64``, ``-march=x86-64-v3``; without
the vector extension, ``MIXEDLM_NO_VECTORS``; and with the clones as the
extension has them), run each on the same inputs and compare the results bit
for bit, with each other and with the extension module. A version the CPU
cannot run (SIGILL) is skipped; so is everything when no C compiler is found.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

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


def _compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")


def _problem(rng, nl: int, m: int, per_level: int):
    """Level-major entries (columns ascending within each level, some levels
    empty, some reaching the diagonal block) and a padded lower-triangular X
    with garbage above the diagonal and in the padding rows."""
    ptr, idx = [0], []
    for _ in range(nl):
        k = int(rng.integers(0, per_level + 1))
        idx.extend(np.sort(rng.choice(m, size=min(k, m), replace=False)))
        ptr.append(len(idx))
    val = rng.normal(size=(len(idx), 1))
    wl, rscale = rng.uniform(0.1, 2.0, nl), rng.uniform(0.5, 1.5, m)
    X = np.asfortranarray(rng.normal(size=(m + 3, m)) * 1e3)
    X[np.tril_indices(m)] = rng.normal(size=m * (m + 1) // 2)  # the lower triangle: O(1)
    return (np.array(ptr, np.int64), np.array(idx, np.int32), np.ascontiguousarray(val),
            wl, rscale, X)


def _run(exe: Path, case: Path, out: Path) -> tuple[float, np.ndarray] | None:
    proc = subprocess.run([str(exe), str(case), str(out)], capture_output=True)
    if proc.returncode == -4 or proc.returncode == 132:  # SIGILL: not this CPU
        return None
    assert proc.returncode == 0, proc.stderr
    res = np.fromfile(out, dtype=np.float64)
    return float(res[0]), res[1:]


@pytest.fixture(scope="module")
def drivers(tmp_path_factory):
    cc = _compiler()
    if cc is None or not HEADER.exists():
        pytest.skip("no C compiler or no source tree: the header is not installed")
    work = tmp_path_factory.mktemp("normsq")
    src = work / "driver.c"
    src.write_text(DRIVER)
    built = {}
    for name, flags in VERSIONS.items():
        exe = work / f"driver_{name}"
        cmd = [cc, "-O3", "-std=c11", *flags, f"-I{HEADER.parent}", str(src), "-o", str(exe)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            if name == "clones":
                pytest.fail(f"the header does not compile as the extension has it:\n"
                            f"{proc.stderr}")
            continue  # e.g. a compiler without -march=x86-64-v3, or not x86-64
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
    ran = []
    for name, exe in built.items():
        got = _run(exe, case, work / f"out_{name}_{m}")
        if got is None:
            continue
        ran.append(name)
        total, diag = got
        assert total == ext_total, (name, total, ext_total)
        np.testing.assert_array_equal(diag, ext_diag, err_msg=name)
    assert "clones" in ran and "scalar" in ran
    L = np.tril(X[:m])
    V = np.zeros((len(ptr) - 1, m))
    for lv in range(len(ptr) - 1):
        V[lv, idx[ptr[lv]:ptr[lv + 1]]] = val[ptr[lv]:ptr[lv + 1], 0]
    want = float(np.sum(wl * np.sum((L @ (rscale * V).T) ** 2, axis=0)))
    assert ext_total == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(ext_diag, np.sum(L ** 2, axis=0), rtol=1e-13)
