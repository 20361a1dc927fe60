"""A real HcadClient whose HTTP connection is answered in-process, for request-shape tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from opensearchpy import Connection

from hcad.connection import ConnectionSettings, HcadClient

Handler = Callable[[str, str, dict[str, Any], Any], tuple[int, Any]]


def recording_client(handle: Handler, *, on_headers: Callable[[dict[str, Any]], None] | None = None) -> HcadClient:
    """Every request goes to ``handle(method, url, params, json_body)`` → ``(status, json_response)``;
    error statuses raise as opensearch-py would. ``on_headers`` sees each request's headers."""

    class Recording(Connection):
        def perform_request(self, method, url, params=None, body=None, timeout=None, ignore=(), headers=None):  # type: ignore[no-untyped-def]
            if body is not None:
                body = json.loads(body.decode() if isinstance(body, bytes) else body)
            if on_headers is not None:
                on_headers(dict(headers or {}))
            status, resp = handle(method, url, params or {}, body)
            raw = json.dumps(resp)
            if not 200 <= status < 300 and status not in ignore:
                self._raise_error(status, raw, "application/json")
            return status, {"content-type": "application/json"}, raw

    return HcadClient(
        ConnectionSettings(url="http://fake:9200"),
        hosts=["http://fake:9200"],
        connection_class=Recording,
        max_retries=0,
    )
