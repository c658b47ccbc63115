"""Tests for mixedlm._grouping: grouping-factor codes and levels."""

import numpy as np
import pandas as pd
import pytest

from mixedlm._grouping import as_grouping_codes

# ---------------------------------------------------------------------------
# as_grouping_codes
# ---------------------------------------------------------------------------


def test_codes_from_strings():
    df = pd.DataFrame({"g": ["b", "a", "c", "a", "b"]})
    codes, levels = as_grouping_codes(df, ("g",), "g")
    assert codes.dtype == np.int32
    assert codes.tolist() == [1, 0, 2, 0, 1]
    assert list(levels) == ["a", "b", "c"]
    assert isinstance(levels, pd.Index)


def test_codes_from_object_strings():
    df = pd.DataFrame({"g": pd.Series(["y", "x", "y"], dtype=object)})
    codes, levels = as_grouping_codes(df, ("g",), "g")
    assert codes.tolist() == [1, 0, 1]
    assert list(levels) == ["x", "y"]


def test_codes_from_integers_sorted_numerically():
    df = pd.DataFrame({"g": [10, 2, 10, 33, 2]})
    codes, levels = as_grouping_codes(df, ("g",), "g")
    assert codes.dtype == np.int32
    assert codes.tolist() == [1, 0, 1, 2, 0]
    assert list(levels) == ["2", "10", "33"]


def test_codes_from_integral_floats_and_bools():
    codes, levels = as_grouping_codes(pd.DataFrame({"g": [3.0, 1.0, 3.0]}), ("g",), "g")
    assert codes.tolist() == [1, 0, 1]
    assert list(levels) == ["1", "3"]
    codes, levels = as_grouping_codes(pd.DataFrame({"g": [True, False, True]}), ("g",), "g")
    assert codes.tolist() == [1, 0, 1]
    assert list(levels) == ["False", "True"]


def test_codes_from_categorical_keep_category_order_and_drop_unused():
    g = pd.Categorical(["lo", "hi", "mid", "hi"], categories=["hi", "unused", "mid", "lo"])
    df = pd.DataFrame({"g": g})
    codes, levels = as_grouping_codes(df, ("g",), "g")
    assert list(levels) == ["hi", "mid", "lo"]
    assert codes.tolist() == [2, 0, 1, 0]
    assert codes.dtype == np.int32
    # the caller's categorical is untouched
    assert list(df["g"].cat.categories) == ["hi", "unused", "mid", "lo"]


def test_codes_from_interaction():
    df = pd.DataFrame(
        {
            "batch": ["B", "A", "A", "B", "A", "B"],
            "cask": pd.Categorical(["b", "a", "c", "b", "a", "a"], categories=["c", "b", "a"]),
        }
    )
    codes, levels = as_grouping_codes(df, ("batch", "cask"), "batch:cask")
    # observed combinations, ordered by batch's level order, then cask's (c, b, a)
    assert list(levels) == ["A:c", "A:a", "B:b", "B:a"]
    assert codes.tolist() == [2, 1, 0, 2, 1, 3]
    assert codes.dtype == np.int32
    # every code is used
    assert set(codes.tolist()) == set(range(len(levels)))


def test_codes_from_three_way_interaction_with_ints():
    df = pd.DataFrame({"a": [1, 1, 2, 2], "b": ["x", "y", "x", "x"], "c": [10, 2, 2, 2]})
    codes, levels = as_grouping_codes(df, ("a", "b", "c"), "a:b:c")
    assert list(levels) == ["1:x:10", "1:y:2", "2:x:2"]
    assert codes.tolist() == [0, 1, 2, 2]


def test_codes_missing_value_and_unknown_column():
    df = pd.DataFrame({"g": ["a", None, "b"]})
    with pytest.raises(ValueError, match="grouping factor 'g': column 'g' has 1 missing value"):
        as_grouping_codes(df, ("g",), "g")
    with pytest.raises(ValueError, match=r"column 'h' \(used in the grouping factor 'g:h'\)"):
        as_grouping_codes(df, ("g", "h"), "g:h")
