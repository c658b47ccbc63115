"""Tests for the command line: ``python -m mixedlm fit FORMULA --data NAME_OR_CSV``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedlm
from mixedlm import _cli

needs_engine = pytest.mark.skipif(
    not hasattr(mixedlm, "lmm"), reason="engine (mixedlm.lmm) not available yet"
)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mixedlm ARGS`` in a fresh interpreter (cwd away from the repo)."""
    return subprocess.run(
        [sys.executable, "-m", "mixedlm", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )


def assert_one_error_line(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit status 2 and exactly one ``mixedlm: error:`` line on stderr, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mixedlm: error:"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture
def grouped_csv(tmp_path: Path) -> Path:
    """A small CSV with an integer grouping column ``g`` (12 groups) and a response ``y``."""
    rng = np.random.default_rng(20240601)
    g = np.repeat(np.arange(1, 13), 5)
    y = 10.0 + rng.normal(0.0, 2.0, 12)[g - 1] + rng.normal(0.0, 1.0, g.size)
    path = tmp_path / "grouped.csv"
    pd.DataFrame({"g": g, "x": np.tile(np.arange(5.0), 12), "y": y}).to_csv(path, index=False)
    return path


def test_help(tmp_path: Path) -> None:
    proc = run_cli("--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "fit" in proc.stdout
    proc = run_cli("fit", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "--factor" in proc.stdout and "--reml" in proc.stdout


def test_usage_error_exits_2(tmp_path: Path) -> None:
    proc = run_cli("fit", "y ~ 1 + (1|g)", cwd=tmp_path)  # --data missing
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_missing_csv(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    proc = run_cli("fit", "y ~ 1 + (1|g)", "--data", str(missing), cwd=tmp_path)
    assert_one_error_line(proc, "not found", "missing.csv")


def test_unknown_dataset(tmp_path: Path) -> None:
    proc = run_cli("fit", "y ~ 1 + (1|g)", "--data", "no_such_data", cwd=tmp_path)
    assert_one_error_line(proc, "no_such_data", "sleepstudy", "insteval")


def test_unknown_factor_column_dataset(tmp_path: Path) -> None:
    proc = run_cli(
        "fit", "Yield ~ 1 + (1|Batch)", "--data", "dyestuff", "--factor", "nope", cwd=tmp_path
    )
    assert_one_error_line(proc, "nope", "--factor")


def test_unknown_factor_column_csv(tmp_path: Path, grouped_csv: Path) -> None:
    proc = run_cli(
        "fit", "y ~ 1 + (1|g)", "--data", str(grouped_csv), "--factor", "grp", cwd=tmp_path
    )
    assert_one_error_line(proc, "grp")


def test_unparsable_csv(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    proc = run_cli("fit", "y ~ 1 + (1|g)", "--data", str(empty), cwd=tmp_path)
    assert_one_error_line(proc, "empty.csv")


def test_load_data_factor_reads_strings(grouped_csv: Path) -> None:
    df = _cli.load_data(str(grouped_csv), ["g"])
    assert isinstance(df["g"].dtype, pd.CategoricalDtype)
    assert list(df["g"].cat.categories) == sorted(str(i) for i in range(1, 13))
    assert df["y"].dtype == "float64"
    # Without --factor the column stays numeric.
    assert _cli.load_data(str(grouped_csv))["g"].dtype == "int64"


def test_load_data_factor_keeps_leading_zeros(tmp_path: Path) -> None:
    path = tmp_path / "zeros.csv"
    path.write_text("g,y\n01,1.5\n02,2.5\n10,3.5\n01,4.0\n")
    df = _cli.load_data(str(path), ["g"])
    assert list(df["g"].cat.categories) == ["01", "02", "10"]
    assert list(df["g"].astype(str)) == ["01", "02", "10", "01"]


def test_load_data_dataset_name() -> None:
    df = _cli.load_data("Sleepstudy")
    assert len(df) == 180
    assert df["Subject"].cat.categories[0] == "308"


@needs_engine
def test_bad_formula(tmp_path: Path) -> None:
    # No random-effects term: the engine must refuse it with a clear message.
    proc = run_cli("fit", "Reaction ~ Days", "--data", "sleepstudy", cwd=tmp_path)
    assert_one_error_line(proc)


@needs_engine
def test_bad_data_column(tmp_path: Path) -> None:
    proc = run_cli("fit", "Yield ~ 1 + (1|NoSuchColumn)", "--data", "dyestuff", cwd=tmp_path)
    assert_one_error_line(proc)


@needs_engine
def test_fit_dyestuff(tmp_path: Path) -> None:
    proc = run_cli("fit", "Yield ~ 1 + (1|Batch)", "--data", "dyestuff", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "327.3" in proc.stdout  # ML deviance 327.3271
    assert "fit time:" in proc.stdout


@needs_engine
def test_fit_csv_with_factor(tmp_path: Path, grouped_csv: Path) -> None:
    proc = run_cli(
        "fit", "y ~ 1 + x + (1|g)", "--data", str(grouped_csv), "--factor", "g", "--reml",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "fit time:" in proc.stdout
