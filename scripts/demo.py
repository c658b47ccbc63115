"""Fit three lme4 example models by maximum likelihood and print their summaries.

Run with ``make demo`` (or ``.venv/bin/python scripts/demo.py`` after
``scripts/setup.sh``). Each model prints a header, the lme4-like summary and the
wall-clock time of ``mixedlm.lmm(formula, data).fit(reml=False)``.
"""

from __future__ import annotations

import sys
import time

MODELS: list[tuple[str, str, str]] = [
    ("Dyestuff", "dyestuff", "Yield ~ 1 + (1|Batch)"),
    ("sleepstudy", "sleepstudy", "Reaction ~ 1 + Days + (1 + Days|Subject)"),
    ("InstEval", "insteval", "y ~ 1 + service*dept + (1|s) + (1|d)"),
]


def main() -> int:
    """Fit the demo models; return the exit status (1 if the engine is missing)."""
    try:
        import mixedlm
        from mixedlm import datasets
    except ImportError as exc:
        print(f"mixedlm cannot be imported ({exc}); the engine is not available yet.")
        return 1
    lmm = getattr(mixedlm, "lmm", None)
    if lmm is None:
        print("The mixedlm engine (mixedlm.lmm) is not available yet: nothing was fitted.")
        return 1

    total = 0.0
    for title, dataset, formula in MODELS:
        data = datasets.load(dataset)
        print("=" * 78)
        print(f"{title}: {formula}   (ML, n = {len(data)})")
        print("=" * 78)
        start = time.perf_counter()
        result = lmm(formula, data).fit(reml=False)
        elapsed = time.perf_counter() - start
        total += elapsed
        print(result)
        print(f"\nfit time: {elapsed:.3f} s\n")
    print(f"total fit time for {len(MODELS)} models: {total:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
