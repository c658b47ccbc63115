"""Command-line interface: ``python -m mixedlm fit FORMULA --data NAME_OR_CSV``.

The model engine is imported only inside the ``fit`` command, so ``--help`` and
argument errors work even when the compiled kernels are unavailable. Every
anticipated failure (missing file, unknown data set, bad formula or data,
unknown ``--factor`` column) is reported as a single ``mixedlm: error: ...``
line on standard error with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

import pandas as pd

__all__ = ["main"]

PROG = "mixedlm"
EXIT_USAGE = 2
EXIT_FAILURE = 1


class CLIError(Exception):
    """An error reported to the user as one ``mixedlm: error:`` line (exit status 2)."""


def _one_line(text: object) -> str:
    """Collapse a (possibly multi-line) message into a single line."""
    return " ".join(str(text).split()) or "unknown error"


def _build_parser() -> argparse.ArgumentParser:
    """Create the argument parser with its ``fit`` sub-command."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Fit linear mixed-effects models (lme4-compatible) from the shell.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    fit = sub.add_parser(
        "fit",
        help="fit a linear mixed model and print its summary",
        description="Fit a linear mixed model and print an lme4-like summary and the fit time.",
    )
    fit.add_argument("formula", metavar="FORMULA", help="model formula, e.g. 'y ~ 1 + x + (1|g)'")
    fit.add_argument(
        "--data",
        required=True,
        metavar="NAME_OR_CSV",
        help="a bundled data set name (see mixedlm.datasets.names()) or a path to a CSV file",
    )
    fit.add_argument("--reml", action="store_true", help="fit by REML (default: maximum likelihood)")
    fit.add_argument("--verbose", action="store_true", help="print optimizer progress")
    fit.add_argument(
        "--factor",
        action="append",
        default=[],
        metavar="COL",
        help="treat column COL as a categorical factor of its string values (repeatable)",
    )
    return parser


def _looks_like_path(value: str) -> bool:
    """Whether `value` is meant as a file path rather than a data set name."""
    lowered = value.lower()
    return (
        os.sep in value
        or (os.altsep is not None and os.altsep in value)
        or lowered.endswith((".csv", ".csv.gz", ".txt", ".tsv"))
    )


def _read_csv(path: str, factors: Sequence[str]) -> pd.DataFrame:
    """Read a CSV file, reading the `factors` columns as strings."""
    if not os.path.isfile(path):
        raise CLIError(f"data file not found: {path}")
    try:
        header = pd.read_csv(path, nrows=0)
        unknown = [col for col in factors if col not in header.columns]
        if unknown:
            raise CLIError(_unknown_columns_message(unknown, header.columns))
        return pd.read_csv(path, dtype={col: str for col in factors})
    except CLIError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        # pandas' parser errors (ParserError, EmptyDataError) derive from ValueError.
        raise CLIError(f"cannot read {path}: {_one_line(exc)}") from exc


def _unknown_columns_message(unknown: Sequence[str], columns: Sequence[Any]) -> str:
    """Message for ``--factor`` columns that are not in the data."""
    return (
        f"--factor: no column {', '.join(map(repr, unknown))} in the data; "
        f"columns are: {', '.join(map(str, columns))}"
    )


def load_data(source: str, factors: Sequence[str] = ()) -> pd.DataFrame:
    """Resolve ``--data`` to a frame and apply ``--factor`` conversions.

    Parameters
    ----------
    source : str
        A bundled data set name (case-insensitive) or a path to a CSV file.
    factors : sequence of str, optional
        Columns to convert to categoricals of their string values, with the
        categories in pandas' default (sorted) order.

    Returns
    -------
    pandas.DataFrame
        The data, ready for :func:`mixedlm.lmm`.

    Raises
    ------
    CLIError
        If the file does not exist or cannot be parsed, the name is not a
        bundled data set, or a `factors` column is missing.
    """
    from mixedlm import datasets

    if _looks_like_path(source) or (
        source.strip().lower() not in datasets.names() and os.path.isfile(source)
    ):
        frame = _read_csv(source, factors)
    else:
        try:
            frame = datasets.load(source)
        except ValueError as exc:
            raise CLIError(
                f"{_one_line(exc)} (or give the path of a CSV file)"
            ) from exc
    unknown = [col for col in factors if col not in frame.columns]
    if unknown:
        raise CLIError(_unknown_columns_message(unknown, frame.columns))
    for col in dict.fromkeys(factors):  # de-duplicated, in order
        values = frame[col]
        if not isinstance(values.dtype, pd.CategoricalDtype):
            strings = values.where(values.isna(), values.astype(str))
            frame[col] = strings.astype("category")
    return frame


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean bad input (formula or data) rather than a bug."""
    errors: tuple[type[BaseException], ...] = (ValueError, TypeError)
    try:
        from formulaic.errors import FormulaicError
    except ImportError:  # pragma: no cover - formulaic is a hard dependency
        return errors
    return (*errors, FormulaicError)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Print a warning as one ``mixedlm: warning:`` line on standard error."""
    stream = sys.stderr if file is None else file
    print(f"{PROG}: warning: {_one_line(message)}", file=stream)


def _fit(args: argparse.Namespace) -> int:
    """Run the ``fit`` command; return the exit status."""
    frame = load_data(args.data, args.factor)

    import mixedlm  # lazy: the engine (and its compiled kernels) only when fitting

    lmm = getattr(mixedlm, "lmm", None)
    if lmm is None:
        print(
            f"{PROG}: error: the model engine (mixedlm.lmm) is not available in this build",
            file=sys.stderr,
        )
        return EXIT_FAILURE

    start = time.perf_counter()
    try:
        model = lmm(args.formula, frame)
        result = model.fit(reml=args.reml, verbose=args.verbose)
    except _user_errors() as exc:
        raise CLIError(_one_line(exc)) from exc
    elapsed = time.perf_counter() - start

    print(result.summary())
    print(f"\nfit time: {elapsed:.3f} s ({'REML' if args.reml else 'ML'}, data: {args.data})")
    return 0


def _die(message: str) -> NoReturn:
    """Print one error line to standard error and exit with status 2."""
    print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m mixedlm`` and the ``mixedlm`` console script.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (without the program name); defaults to ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 on success, 1 if the engine is missing. Usage and
        input errors exit with status 2 via :class:`SystemExit`.
    """
    args = _build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            if args.command == "fit":
                return _fit(args)
        except CLIError as exc:
            _die(str(exc))
    raise AssertionError(f"unhandled command {args.command!r}")  # pragma: no cover
