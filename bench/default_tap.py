"""A default-configured SDK tap reading the same emulator: the "naive" baseline.

What a first SDK tap for this API would look like: `RESTStream` with the default JSON
writer and type conformance, `response.json()`, rows zipped into dicts, one query.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import requests
from singer_sdk import Tap
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.pagination import OffsetPaginator
from singer_sdk.streams import RESTStream


class RowsPaginator(OffsetPaginator):
    def has_more(self, response: requests.Response) -> bool:
        body = response.json()
        received = len(body["data"]) - 1
        return received > 0 and self.current_value + received < body["meta"]["result"]["total_rows"]


class DefaultStream(RESTStream[int]):
    name = "keywords"
    path = "/query/status"

    @property
    def url_base(self) -> str:
        return str(self.config["base_url"])

    @property
    def authenticator(self) -> BearerTokenAuthenticator:
        return BearerTokenAuthenticator(token=self.config["api_key"])

    def get_new_paginator(self) -> RowsPaginator:
        return RowsPaginator(0, self.config["page_size"])

    def get_url_params(self, context: Any, next_page_token: Any) -> dict[str, Any]:
        first = next_page_token or 0
        return {
            "json": json.dumps(
                {
                    "schedule_id": self.schedule_id,
                    "offset_start": first,
                    "offset_end": first + self.config["page_size"] - 1,
                }
            )
        }

    def parse_response(self, response: requests.Response) -> Any:
        fields = self.config["query"]["fields"]
        for row in response.json()["data"][1:]:
            yield dict(zip(fields, row, strict=True))

    def get_records(self, context: Any) -> Any:
        url = f"{self.url_base}/query/data/json"
        headers = {"Authorization": f"Bearer {self.config['api_key']}"}
        query = json.dumps(self.config["query"])
        self.schedule_id = requests.get(
            url, params={"json": query}, headers=headers, timeout=60
        ).json()["meta"]["schedule_id"]
        while True:
            status = requests.get(
                f"{self.url_base}/query/status",
                headers=headers,
                timeout=60,
                params={
                    "json": json.dumps(
                        {"schedule_id": self.schedule_id, "offset_start": 0, "offset_end": 0}
                    )
                },
            )
            if status.json()["meta"]["status_code"] == "SUCCESS":
                break
            time.sleep(0.25)
        yield from super().get_records(context)


class DefaultTap(Tap):
    name = "tap-default"

    def discover_streams(self) -> list[DefaultStream]:
        return [DefaultStream(self, schema=self.config["schema"])]


if __name__ == "__main__":
    DefaultTap(config=json.loads(sys.argv[1])).sync_all()
