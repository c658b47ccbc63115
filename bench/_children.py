"""Run one benchmark child process and collect its result and peak RSS.

Each measurement runs in a fresh process so that packages, BLAS thread
pools and allocators never share an interpreter.  The child's result is
the JSON object on its ``@@RESULT`` line; its peak resident set size comes
from ``os.wait4`` (the kernel's ``ru_maxrss`` for that child alone).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from _timing import MARKER


@dataclass
class ChildResult:
    """Outcome of one child process.

    Attributes
    ----------
    payload : dict or None
        Parsed result line, ``None`` when the child printed none.
    returncode : int
        Exit code (negative: killed by that signal; ``-9`` also on timeout).
    wall_s : float
        Wall-clock seconds of the whole process.
    peak_rss_mb : float or None
        ``ru_maxrss`` of the child in MiB.
    stderr_tail : str
        Last lines of standard error, for error reports.
    timeout_s : float or None
        The time limit, when the child was killed for exceeding it.
    """

    payload: dict[str, Any] | None
    returncode: int
    wall_s: float
    peak_rss_mb: float | None
    stderr_tail: str = field(default="")
    timeout_s: float | None = None

    @property
    def error(self) -> str | None:
        """A one-line reason when the child failed, else ``None``."""
        if self.payload is not None and self.payload.get("error"):
            return str(self.payload["error"])
        if self.payload is None and self.timeout_s is not None:
            return f"timed out after {self.timeout_s:.0f} s (killed)"
        if self.payload is None:
            tail = self.stderr_tail.strip().splitlines()[-3:]
            return f"exit {self.returncode}: " + " | ".join(tail)
        return None


def run(
    cmd: list[str],
    env_extra: dict[str, str] | None = None,
    timeout: float = 900.0,
    cwd: str | None = None,
) -> ChildResult:
    """Run ``cmd`` to completion and return its result line and peak RSS.

    Parameters
    ----------
    cmd : list of str
        Program and arguments.
    env_extra : dict, optional
        Variables added to (or overriding) the inherited environment.
    timeout : float
        Seconds before the child is killed.
    cwd : str, optional
        Working directory of the child.

    Returns
    -------
    ChildResult
    """
    env = dict(os.environ)
    env.update(env_extra or {})
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=err, env=env, cwd=cwd, stdin=subprocess.DEVNULL
        )
        status, usage = _wait(proc, timeout)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        payload = _parse(out.read())
        stderr = err.read()[-4000:]
    rss = usage.ru_maxrss / 1024.0 if usage is not None else None
    timed_out = timeout if status == -9 and wall >= timeout else None
    return ChildResult(payload, status, wall, rss, stderr, timed_out)


def _wait(proc: subprocess.Popen, timeout: float):
    """Reap ``proc`` with ``os.wait4``; kill it after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage
        if time.monotonic() > deadline:
            proc.kill()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = -9
            return -9, usage
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _parse(stdout: str) -> dict[str, Any] | None:
    """Return the JSON object of the last result line in ``stdout``."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            try:
                return json.loads(line[len(MARKER) :])
            except json.JSONDecodeError:
                return None
    return None
