"""A data source's field list from `GET /query/fields`, and the checks built on it.

`/query/fields` describes every field of a data source (id, name, dimension or
metric, dotted `data_type`, description) without running a query: no licence query,
no wait in the queue. Discovery types streams from it, refuses unknown field ids with
a suggestion before any data query, and the sync compares each answer's field types
with the declared schema (`type_disagreements`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import msgspec
import requests
from typing_extensions import override

from tap_supermetrics.api.client import SupermetricsStream, payload_of
from tap_supermetrics.core.errors import ApiErrorInfo, ConfigMistakesError, SupermetricsError
from tap_supermetrics.schema.types import FieldSpec, base_type, known_json_type
from tap_supermetrics.settings.queries import QueryDefinition

FIELDS_PATH = "/query/fields"
#: How many close field ids an unknown one is offered.
SUGGESTIONS = 3
_CUTOFF = 0.6
_MARGIN = 0.1
_SHOWN_UNKNOWN = 5


class FieldsUnavailableError(SupermetricsError):
    """`/query/fields` answered, but not with a usable field list (discovery probes instead)."""


class UnknownFieldError(ConfigMistakesError):
    """A configured field id is not among its data source's fields."""


class FieldListClient(SupermetricsStream):
    """Sends the `/query/fields` request through the tap's retrying request path.

    Only `validate_response` differs from the other requests: an error answer
    (403, 404, any other final 4xx, or an error inside an HTTP 200) means "this
    endpoint cannot tell us", not "stop", so it raises FieldsUnavailableError, which
    discovery answers with a probe query. 401 still means a rejected key, and 429/5xx
    are retried as everywhere else (discovery probes when those retries are spent).
    """

    path = FIELDS_PATH  # names the endpoint in the SDK's request metrics

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if (
            HTTPStatus.BAD_REQUEST <= status < HTTPStatus.INTERNAL_SERVER_ERROR
            and status != HTTPStatus.UNAUTHORIZED
            and not self._is_retriable(status)
        ):
            msg = f"{self._where(response)}: HTTP {status}: {_error_info(response)}"
            raise FieldsUnavailableError(msg)
        super().validate_response(response)
        if payload_of(response).get("error"):
            msg = f"{self._where(response)}: HTTP {status}: {_error_info(response)}"
            raise FieldsUnavailableError(msg)


def _error_info(response: requests.Response) -> ApiErrorInfo:
    try:
        return ApiErrorInfo.from_payload(payload_of(response))
    except msgspec.DecodeError:
        return ApiErrorInfo()


def fetch_field_list(client: FieldListClient, ds_id: str) -> dict[str, FieldSpec]:
    """Ask `/query/fields` for data source `ds_id`'s fields, by field id.

    Raises:
        FieldsUnavailableError: the endpoint answered an error or no usable list.
        AuthenticationError: the key was rejected (401).
        SupermetricsError: retries (429, 5xx, connection errors) were spent.
    """
    describe = f"data source {ds_id!r}, field list"
    payload = client.call_api(FIELDS_PATH, {"ds_id": ds_id}, None, describe)
    fields = read_field_list(payload.get("data"))
    if not fields:
        msg = f"{describe}: GET {FIELDS_PATH} answered without any field"
        raise FieldsUnavailableError(msg)
    return fields


def read_field_list(data: object) -> dict[str, FieldSpec]:
    """Read the `data` of a `/query/fields` answer; entries without a field id are skipped.

    `data` may hold decoded entries, or each entry's raw JSON (`msgspec.Raw`, the way
    the tap's client keeps `data` undecoded).
    """
    if not isinstance(data, list):
        return {}
    fields: dict[str, FieldSpec] = {}
    for item in data:
        entry = msgspec.json.decode(item) if isinstance(item, msgspec.Raw) else item
        if isinstance(entry, dict):
            spec = FieldSpec.from_meta(entry)
            if spec.field_id:
                fields[spec.field_id] = spec
    return fields


def suggestions(field_id: str, known: Iterable[str]) -> list[str]:
    """The known field ids closest to `field_id`, best first, ignoring case.

    difflib's ratio must reach 0.6 (its usual cutoff) and come within 0.1 of the best
    match, so that `Campaignnme` gets `CampaignName` and not every `Campaign…` field.
    """
    by_lower: dict[str, str] = {}
    for candidate in known:
        by_lower.setdefault(candidate.lower(), candidate)
    typed = field_id.lower()
    matcher = difflib.SequenceMatcher(b=typed)
    scored = []
    for lower in by_lower:
        matcher.set_seq1(lower)
        if matcher.real_quick_ratio() >= _CUTOFF and matcher.quick_ratio() >= _CUTOFF:
            ratio = matcher.ratio()
            if ratio >= _CUTOFF:
                scored.append((ratio, lower))
    scored.sort(key=lambda item: (-item[0], item[1]))
    if not scored:
        return []
    best = scored[0][0]
    return [by_lower[lower] for ratio, lower in scored[:SUGGESTIONS] if ratio >= best - _MARGIN]


def unknown_fields_message(
    definition: QueryDefinition, known: Mapping[str, FieldSpec]
) -> str | None:
    """One line naming the stream's unknown field ids and their closest known ones, or None.

    `Campaignnme` → "did you mean 'CampaignName'?". Field ids are case-sensitive at
    the API, so `campaignname` is unknown too, and suggested in its right case.
    """
    unknown = [field_id for field_id in definition.fields if field_id not in known]
    if not unknown:
        return None
    parts = []
    for field_id in unknown[:_SHOWN_UNKNOWN]:
        close = suggestions(field_id, known)
        hint = (
            f"did you mean {' or '.join(repr(item) for item in close)}?"
            if close
            else "no similar field id"
        )
        parts.append(f"{field_id!r} ({hint})")
    if len(unknown) > _SHOWN_UNKNOWN:
        parts.append(f"and {len(unknown) - _SHOWN_UNKNOWN} more")
    return (
        f"stream {definition.name!r}: unknown field id(s) for data source "
        f"{definition.ds_id!r}: {', '.join(parts)}. Field ids are case-sensitive; "
        f"GET {FIELDS_PATH} lists them"
    )


def type_disagreements(
    declared: Mapping[str, Mapping[str, Any]], field_meta: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Compare an answer's field types with the declared schema; one message per mismatch.

    Discovery fixed each column's type (from `/query/fields`, or the catalog); a
    query answer's `meta.query.fields` names the types again. They should agree. When
    they do not, the declared type must still win for the whole run: target-postgres
    cannot change a column's type, and silently rounds numbers into an integer column.
    So this only reports; the caller logs each message as a warning and converts by
    the declared schema.

    Args:
        declared: The stream's schema properties, by field id.
        field_meta: The answer's `meta.query.fields` entries.

    Returns:
        Messages such as "field 'Clicks': the API now answers data_type
        'float.number.value' (number), the declared schema says integer; keeping
        integer for this run (…)", in the answer's order. Fields the schema does not
        declare, and entries without a `data_type`, are skipped.
    """
    messages = []
    for meta in field_meta:
        data_type = meta.get("data_type")
        spec = FieldSpec.from_meta(dict(meta))
        schema = declared.get(spec.field_id)
        if not data_type or schema is None:
            continue
        answered = base_type(known_json_type(str(data_type)) or {"type": "string"})
        kept = base_type(dict(schema))
        if answered != kept:
            messages.append(
                f"field {spec.field_id!r}: the API now answers data_type {data_type!r} "
                f"({answered}), the declared schema says {kept}; keeping {kept} for this run "
                "(a target cannot change a column's type)"
            )
    return messages
