"""Tests for mixedlm._validation: checks at the Python boundary."""

import re

import numpy as np
import pandas as pd
import pytest

from mixedlm._validation import (
    check_columns,
    check_dataframe,
    check_finite_matrix,
    check_grouping,
    check_response,
    drop_incomplete,
)


@pytest.fixture
def sleep():
    return pd.DataFrame(
        {
            "Reaction": [250.0, 260.0, 270.0, 280.0],
            "Days": [0, 1, 0, 1],
            "Subject": ["308", "308", "309", "309"],
        }
    )


# ---------------------------------------------------------------------------
# check_dataframe
# ---------------------------------------------------------------------------


def test_check_dataframe_returns_same_frame(sleep):
    assert check_dataframe(sleep) is sleep


@pytest.mark.parametrize("bad", [{"y": [1.0]}, np.zeros((3, 2)), None])
def test_check_dataframe_type(bad):
    with pytest.raises(TypeError, match=rf"got .*{type(bad).__name__}.*pandas\.DataFrame\(data\)"):
        check_dataframe(bad)


def test_check_dataframe_no_rows(sleep):
    with pytest.raises(ValueError, match="data has no rows"):
        check_dataframe(sleep.iloc[:0])


# ---------------------------------------------------------------------------
# check_columns
# ---------------------------------------------------------------------------


def test_check_columns_ok(sleep):
    assert check_columns(["Reaction", "Days", "Subject", "Days"], sleep, "the formula") is None


def test_check_columns_close_match(sleep):
    with pytest.raises(
        ValueError,
        match=re.escape(
            "column 'Reacton' (used in the formula) is not in the data; did you mean 'Reaction'?"
        ),
    ):
        check_columns(["Reacton", "Days"], sleep, "the formula")


def test_check_columns_case_insensitive(sleep):
    with pytest.raises(ValueError, match=re.escape("'subject' (used in the formula) is not in "
                                                   "the data; did you mean 'Subject'?")):
        check_columns(["subject"], sleep, "the formula")


def test_check_columns_lists_available_when_nothing_close(sleep):
    with pytest.raises(
        ValueError,
        match=re.escape(
            "column 'zzz' (used in the formula) is not in the data; available columns: "
            "'Reaction', 'Days', 'Subject'"
        ),
    ):
        check_columns(["zzz"], sleep, "the formula")


def test_check_columns_truncates_long_lists():
    wide = pd.DataFrame({f"col{i:02d}": [1] for i in range(50)})
    with pytest.raises(ValueError, match=r"'col19', \.\.\. and 30 more$"):
        check_columns(["qqq"], wide, "the formula")


def test_check_columns_several_unknown(sleep):
    with pytest.raises(ValueError) as info:
        check_columns(["Reacton", "qqq"], sleep, "the formula")
    msg = str(info.value)
    assert (
        "column 'Reacton' (used in the formula) is not in the data; did you mean 'Reaction'?"
        in msg
    )
    assert "column 'qqq' (used in the formula) is not in the data" in msg
    assert "available columns: 'Reaction', 'Days', 'Subject'" in msg


def test_check_columns_duplicate_names():
    df = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["y", "x", "x"])
    with pytest.raises(ValueError, match="column 'x' .* appears 2 times"):
        check_columns(["y", "x"], df, "the formula")


# ---------------------------------------------------------------------------
# drop_incomplete
# ---------------------------------------------------------------------------


def test_drop_incomplete_counts_and_leaves_caller_untouched():
    df = pd.DataFrame(
        {
            "y": [1.0, np.nan, 3.0, 4.0, 5.0, 6.0],
            "g": pd.Categorical(["a", "b", None, "a", "b", "a"]),
            "s": ["u", "v", "w", None, "u", "v"],
            "other": [np.nan] * 6,  # not a model column: ignored
        },
        index=[10, 11, 12, 13, 14, 15],
    )
    before = df.copy()
    kept, n = drop_incomplete(df, ["y", "g", "s"])
    assert n == 3
    assert isinstance(kept.index, pd.RangeIndex)
    assert list(kept.index) == [0, 1, 2]
    assert kept["y"].tolist() == [1.0, 5.0, 6.0]
    assert kept["g"].tolist() == ["a", "b", "a"]
    assert list(kept.columns) == ["y", "g", "s", "other"]
    pd.testing.assert_frame_equal(df, before)
    # the result is independent of the caller's frame
    kept.loc[0, "y"] = -1.0
    pd.testing.assert_frame_equal(df, before)


def test_drop_incomplete_none_and_pd_na():
    df = pd.DataFrame(
        {
            "y": pd.array([1, pd.NA, 3], dtype="Int64"),
            "g": pd.Series(["a", "b", None], dtype=object),
        }
    )
    kept, n = drop_incomplete(df, ["y", "g"])
    assert n == 2
    assert kept["y"].tolist() == [1]


def test_drop_incomplete_nothing_missing_is_a_copy(sleep):
    kept, n = drop_incomplete(sleep, ["Reaction", "Subject"])
    assert n == 0
    pd.testing.assert_frame_equal(kept, sleep)
    assert kept is not sleep
    kept.loc[0, "Reaction"] = 0.0
    assert sleep.loc[0, "Reaction"] == 250.0


def test_drop_incomplete_all_rows_missing():
    df = pd.DataFrame({"a": [np.nan, 1.0, 2.0], "b": [1.0, None, np.nan]})
    with pytest.raises(
        ValueError,
        match=re.escape(
            "all 3 rows have a missing value in at least one of the model's columns "
            "('a': 1 missing, 'b': 2 missing)"
        ),
    ):
        drop_incomplete(df, ["a", "b"])


def test_drop_incomplete_unknown_column(sleep):
    with pytest.raises(ValueError, match="did you mean 'Days'"):
        drop_incomplete(sleep, ["Dayz"])


# ---------------------------------------------------------------------------
# check_response
# ---------------------------------------------------------------------------


def test_check_response_numeric():
    y = pd.Series([1, 2, 3], dtype="int64")
    out = check_response(y, "y")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [1.0, 2.0, 3.0])
    arr = np.array([1.5, 2.5])
    out = check_response(arr, "y")
    np.testing.assert_array_equal(out, arr)
    assert out is not arr


def test_check_response_bool_becomes_float():
    np.testing.assert_array_equal(check_response(pd.Series([True, False]), "b"), [1.0, 0.0])
    np.testing.assert_array_equal(check_response(np.array([False, True]), "b"), [0.0, 1.0])


@pytest.mark.parametrize(
    "y",
    [
        pd.Series(["a", "b"]),
        pd.Series(["1", "2"], dtype=object),
        pd.Series(pd.Categorical(["1", "2"])),
        np.array(["a", "b"]),
    ],
)
def test_check_response_non_numeric(y):
    with pytest.raises(
        TypeError, match="response 'resp' .* the response must be numeric: convert"
    ):
        check_response(y, "resp")


def test_check_response_infinite():
    y = np.zeros(30)
    y[[17, 20, 25]] = [np.inf, -np.inf, np.inf]
    with pytest.raises(ValueError, match=r"response 'y' has 3 infinite values, e\.g\. at row 17"):
        check_response(pd.Series(y), "y")


def test_check_response_nan():
    with pytest.raises(
        ValueError, match=r"response 'y' has 1 missing \(NaN\) value, e\.g\. at row 1"
    ):
        check_response(np.array([1.0, np.nan]), "y")


# ---------------------------------------------------------------------------
# check_finite_matrix
# ---------------------------------------------------------------------------


def test_check_finite_matrix():
    X = np.ones((5, 3))
    check_finite_matrix(X, ["(Intercept)", "x", "log(z)"], "the fixed-effects model matrix")
    X[3, 2] = -np.inf
    X[4, 2] = np.nan
    with pytest.raises(
        ValueError,
        match=re.escape(
            "the fixed-effects model matrix has non-finite values: column 'log(z)' has "
            "1 infinite value and 1 NaN value, e.g. at row 3"
        ),
    ):
        check_finite_matrix(X, ["(Intercept)", "x", "log(z)"], "the fixed-effects model matrix")


def test_check_finite_matrix_large_but_finite_values():
    # column sums overflow to inf, but every value is finite
    check_finite_matrix(np.full((4, 2), 1e308), ["a", "b"], "X")


# ---------------------------------------------------------------------------
# check_grouping
# ---------------------------------------------------------------------------


def test_check_grouping():
    check_grouping(18, 180, "Subject")
    with pytest.raises(
        ValueError,
        match=re.escape(
            "grouping factor 'g' has 30 levels for 30 observations; the number of levels of "
            "each grouping factor must be less than the number of observations (lme4's check)"
        ),
    ):
        check_grouping(30, 30, "g")
    with pytest.raises(ValueError, match="grouping factor 'g' has no levels"):
        check_grouping(0, 30, "g")
