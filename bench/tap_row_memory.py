"""The tap with `row_memory` standing in for KeyGuard's set: a preview until it is wired.

Run: python -m bench.tap_row_memory --config CONFIG   (the tap's own arguments)

Both checks are on, as they will be once `tap_supermetrics.row_memory` is wired into
the stream: the duplicate-key check (`DigestSet.add_page` over `key_digests`) and
exactly-once tracking (`DigestSet.add_new` over `row_digests`, every emitted row of
the window remembered). The tap's KeyGuard keeps its own `set` empty. If the stream no
longer has a KeyGuard with `check_page` (it was rewired), the tap runs unchanged and
says so on stderr.
"""

from __future__ import annotations

import sys
from typing import Any

from tap_supermetrics import streams
from tap_supermetrics.row_memory import DigestSet, key_digests, row_digests
from tap_supermetrics.tap import TapSupermetrics


def install() -> bool:
    """Replace `streams.KeyGuard` by a DigestSet-backed one; False if there is none."""
    original = getattr(streams, "KeyGuard", None)
    if original is None or not hasattr(original, "check_page"):
        return False

    class DigestKeyGuard(original):  # type: ignore[misc, valid-type]
        def __init__(self, keys: list[str]) -> None:
            super().__init__(keys)
            self.key_digests = DigestSet()
            self.emitted = DigestSet()

        def check_page(self, records: list[dict[str, Any]]) -> int | None:
            self.emitted.add_new(row_digests(records))
            if not self.keys:
                return None
            return self.key_digests.add_page(key_digests(records, self.keys))

    streams.KeyGuard = DigestKeyGuard  # type: ignore[misc, assignment]
    return True


if __name__ == "__main__":
    print(f"row_memory preview installed: {install()}", file=sys.stderr)
    TapSupermetrics.cli()
