"""Checks of the settings that JSON Schema cannot express, before any request."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft7Validator

from tap_supermetrics.core.clock import today_utc
from tap_supermetrics.core.errors import ConfigError
from tap_supermetrics.core.limits import Limits
from tap_supermetrics.settings.config_schema import DEFAULT_BASE_URL
from tap_supermetrics.settings.dates import date_range


def check_settings(config: dict[str, Any], schema: dict[str, Any]) -> None:
    """Refuse wrong types, unknown names, bad numbers and unsafe URLs, one line each.

    The SDK validates types only in some modes (not during discovery), so the JSON
    Schema check runs here too, phrased for a user.
    """
    unknown = sorted(set(config) - set(schema["properties"]))
    if unknown:
        msg = f"unknown setting(s): {', '.join(unknown)}"
        raise ConfigError(msg)
    for error in sorted(Draft7Validator(schema).iter_errors(config), key=str):
        where = ".".join(str(part) for part in error.absolute_path) or "config"
        msg = f"{where}: {error.message}"
        raise ConfigError(msg)
    if not config.get("api_key"):
        msg = "api_key is required"
        raise ConfigError(msg)
    check_base_url(str(config.get("base_url") or DEFAULT_BASE_URL))
    for name, minimum in (
        ("page_size", 1),
        ("window_days", 1),
        ("lookback_days", 0),
        ("max_concurrent_queries", 1),
    ):
        if name in config and config[name] < minimum:
            msg = f"{name} must be at least {minimum}, got {config[name]}"
            raise ConfigError(msg)
    for name in (
        "poll_interval",
        "max_poll_interval",
        "query_timeout",
        "request_timeout",
        "result_lifetime",
        "max_requests_per_second",
    ):
        if name in config and float(config[name]) <= 0:
            msg = f"{name} must be a positive number of seconds, got {config[name]}"
            raise ConfigError(msg)
    Limits.from_config(config)
    date_range(config, today_utc())


def check_base_url(url: str) -> None:
    """Allow https anywhere, plain http only on loopback (the emulator)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    msg = f"base_url must be an https URL (http only for loopback addresses), got {url!r}"
    raise ConfigError(msg)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
