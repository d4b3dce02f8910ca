"""The allocator setting takes effect where it can, and is harmless where it cannot."""

from __future__ import annotations

import platform

import pytest

from tap_supermetrics.streams.allocator import keep_large_buffers_out_of_the_heap


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_glibc_takes_the_fixed_mmap_threshold() -> None:
    assert keep_large_buffers_out_of_the_heap() is True


def test_other_platforms_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.platform", "darwin")

    assert keep_large_buffers_out_of_the_heap() is False
