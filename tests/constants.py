"""Constants the tests share (kept apart from conftest.py so helpers can import them)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "test-secret-key-7f3a9c"
