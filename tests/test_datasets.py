"""Tests for the bundled lme4 data sets (mixedlm.datasets)."""

from __future__ import annotations

import json
from importlib import resources

import pandas as pd
import pytest

from mixedlm import datasets

NROWS = {
    "dyestuff": 30,
    "dyestuff2": 30,
    "insteval": 73421,
    "pastes": 60,
    "penicillin": 144,
    "sleepstudy": 180,
}


def _meta() -> dict:
    path = resources.files("mixedlm.datasets").joinpath("data", "datasets_meta.json")
    return json.loads(path.read_text(encoding="utf-8"))["datasets"]


def test_names_sorted() -> None:
    assert datasets.names() == sorted(NROWS)


@pytest.mark.parametrize("name", sorted(NROWS))
def test_row_counts(name: str) -> None:
    assert len(datasets.load(name)) == NROWS[name]


@pytest.mark.parametrize("name", sorted(NROWS))
def test_columns_match_meta(name: str) -> None:
    df = datasets.load(name)
    columns = _meta()[name]["columns"]
    assert list(df.columns) == [c["name"] for c in columns]
    for col in columns:
        s = df[col["name"]]
        assert not s.isna().any()
        if col["type"] in ("factor", "ordered"):
            assert isinstance(s.dtype, pd.CategoricalDtype)
            assert list(s.cat.categories) == col["levels"]
            assert s.cat.ordered == (col["type"] == "ordered")
            assert all(isinstance(level, str) for level in s.cat.categories)
        elif col["type"] == "integer":
            assert s.dtype == "int64"
        else:
            assert s.dtype == "float64"


def test_level_order_is_rs() -> None:
    insteval = datasets.load("insteval")
    assert insteval["dept"].cat.categories[0] == "15"
    assert datasets.load("sleepstudy")["Subject"].cat.categories[0] == "308"
    assert list(datasets.load("dyestuff")["Batch"].cat.categories) == list("ABCDEF")


def test_insteval_labels_stay_strings() -> None:
    df = datasets.load("insteval")
    assert len(df["s"].cat.categories) == 2972
    assert len(df["d"].cat.categories) == 1128
    for col in ("s", "d"):
        assert all(isinstance(level, str) for level in df[col].cat.categories)
    assert df["s"].cat.categories[0] == "1"
    assert df["studage"].cat.ordered and df["lectage"].cat.ordered
    assert not df["service"].cat.ordered
    assert df["y"].dtype == "int64"


def test_sleepstudy_values() -> None:
    df = datasets.load("sleepstudy")
    assert df["Reaction"].iloc[0] == pytest.approx(249.56)
    assert df["Days"].dtype == "float64"
    assert df["Days"].min() == 0 and df["Days"].max() == 9


def test_case_insensitive() -> None:
    pd.testing.assert_frame_equal(datasets.load("Dyestuff"), datasets.load("dyestuff"))
    assert len(datasets.load("InstEval")) == NROWS["insteval"]


def test_unknown_name_lists_names() -> None:
    with pytest.raises(ValueError, match="no_such_data") as info:
        datasets.load("no_such_data")
    for name in NROWS:
        assert name in str(info.value)


def test_non_string_name() -> None:
    with pytest.raises(TypeError):
        datasets.load(3)  # type: ignore[arg-type]


def test_returns_copies() -> None:
    first = datasets.load("dyestuff")
    first.loc[0, "Yield"] = -1.0
    first["Batch"] = first["Batch"].cat.rename_categories(list("uvwxyz"))
    del first["Yield"]
    second = datasets.load("dyestuff")
    assert second["Yield"].iloc[0] == 1545
    assert list(second["Batch"].cat.categories) == list("ABCDEF")
    assert second is not datasets.load("dyestuff")
