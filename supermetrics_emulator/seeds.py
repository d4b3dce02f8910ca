"""Seeds: every number the emulator's rows hold grows from the seed of a text label.

A label's seed is an FNV-1a-style 64-bit hash of its UTF-8 bytes put through the
splitmix64 finaliser, modulo P = 4,294,967,291 (docs/emulator-arithmetic.md "Seeds").
The same label always gives the same seed, in every process and on every machine:
that is what makes a day read twice, or by two queries, hold the same numbers.
"""

from __future__ import annotations

from functools import cache

_MASK = (1 << 64) - 1
#: The largest prime below 2**32: keeps every product of two residues a small int.
PRIME = 4_294_967_291
#: Spreads consecutive sums of seeds over the residues (Knuth's multiplicative hash).
GOLDEN = 2_654_435_761


def mix64(value: int) -> int:
    """Return the splitmix64 finaliser of `value`: cheap, well spread, reproducible."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


@cache
def seed(text: str) -> int:
    """Return the seed of label `text`, a number in [0, PRIME).

    The start value is not FNV's offset basis (it lacks its last digit): kept as it is,
    because changing it would move every number the emulator has ever served.
    """
    acc = 1469598103934665603
    for byte in text.encode():
        acc = ((acc ^ byte) * 1099511628211) & _MASK
    return mix64(acc) % PRIME
