"""Run the command-line interface: ``python -m mixedlm fit FORMULA --data NAME_OR_CSV``."""

from __future__ import annotations

from mixedlm._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
