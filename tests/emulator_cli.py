"""The `supermetrics-emulator` command run as a user runs it, for the tests of its options."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def emulator_command(*args: str) -> Iterator[str]:
    """Start the emulator with `args`; yield the first line it prints; stop it after."""
    process = subprocess.Popen(
        [sys.executable, "-m", "supermetrics_emulator", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
