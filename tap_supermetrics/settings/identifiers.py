"""Config values that become file names and SQL identifiers downstream, checked up front.

A stream name becomes a table in target-postgres and a file name in file-writing
targets (`<destination>/<stream>.jsonl`); a field id becomes a column. Both are
refused here, before any request, when a target could misread them: a path, a
quoted or spaced SQL name, or two names that land on the same PostgreSQL column
(PostgreSQL keeps only the first 63 bytes of an identifier, and SQL targets built on
the Singer SDK normalise column names first).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tap_supermetrics.core.errors import ConfigError

#: PostgreSQL's NAMEDATALEN - 1: longer identifiers are silently cut to this many bytes.
MAX_IDENTIFIER_BYTES = 63

STREAM_NAME_RULE = (
    "letters, digits and underscore only, not starting with a digit, at most "
    f"{MAX_IDENTIFIER_BYTES} characters"
)
DS_ID_RULE = "letters, digits and underscore only"

_STREAM_NAME = re.compile(rf"[A-Za-z_][A-Za-z0-9_]{{0,{MAX_IDENTIFIER_BYTES - 1}}}")
_DS_ID = re.compile(r"[A-Za-z0-9_]+")
_NOT_KEPT_BY_SQL_TARGETS = re.compile(r"[^a-zA-Z0-9_\-\.\s]")
_SHOWN_CHARACTERS = 80


def shown(value: object) -> str:
    """A value as it appears in a message: quoted, escaped to one line, cut if long."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARACTERS else f"{text[:_SHOWN_CHARACTERS]}…"


def check_stream_name(name: object, where: str) -> str:
    """Return a stream name that is safe as a table name and a file name, or refuse it."""
    if not isinstance(name, str) or not _STREAM_NAME.fullmatch(name):
        msg = f"{where}: stream name {shown(name)} is not allowed: use {STREAM_NAME_RULE}"
        raise ConfigError(msg)
    return name


def check_ds_id(ds_id: object, where: str) -> str:
    """Return a data source id made of safe characters, or refuse it."""
    if not isinstance(ds_id, str) or not _DS_ID.fullmatch(ds_id):
        msg = f"{where}: ds_id {shown(ds_id)} is not allowed: use {DS_ID_RULE}"
        raise ConfigError(msg)
    return ds_id


def sql_column_name(field_id: str) -> str:
    """The column name a Singer-SDK SQL target (target-postgres) makes of a property.

    Mirrors the SDK's `SQLSink.conform_name`: characters other than letters, digits,
    `_`, `-`, `.` and white space are dropped; the rest is lower-cased, trimmed, and
    `.`, `-` and spaces become `_`; a leading digit becomes a letter (0 → a, 1 → b…).
    """
    name = _NOT_KEPT_BY_SQL_TARGETS.sub("", field_id)
    name = name.lower().strip().replace(".", "_").replace("-", "_").replace(" ", "_")
    if name[:1] in _DIGITS:
        name = _LETTER_FOR_DIGIT[name[0]] + name[1:]
    return name


_DIGITS = "0123456789"
_LETTER_FOR_DIGIT = dict(zip(_DIGITS, "abcdefghij", strict=True))


def check_column_collisions(field_ids: Iterable[str], where: str) -> None:
    """Refuse two field ids that PostgreSQL would store in one column, naming both."""
    seen: dict[bytes, str] = {}
    for field_id in field_ids:
        for stored in _stored_forms(field_id):
            other = seen.get(stored)
            if other is not None and other != field_id:
                msg = (
                    f"{where}: fields {shown(other)} and {shown(field_id)} would land in one "
                    f"PostgreSQL column ({shown(stored.decode(errors='replace'))}): identifiers "
                    f"are normalised and cut to {MAX_IDENTIFIER_BYTES} bytes. Keep one of them"
                )
                raise ConfigError(msg)
        for stored in _stored_forms(field_id):
            seen[stored] = field_id


def _stored_forms(field_id: str) -> set[bytes]:
    """The column names a target may store `field_id` under: as sent, and normalised."""
    return {form.encode()[:MAX_IDENTIFIER_BYTES] for form in (field_id, sql_column_name(field_id))}
