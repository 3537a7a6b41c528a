"""A small synchronous client of the IPAM API for operator commands and scripts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx


class IpamClientError(Exception):
    """The API answered with a problem; ``problem`` holds its body."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        field = f" [{problem['field']}]" if problem.get("field") else ""
        super().__init__(f"{status} {problem.get('title', '')}{field}: {problem.get('detail', '')}")
        self.status = status
        self.problem = problem


class IpamClient:
    def __init__(self, url: str, *, token: str | None = None, timeout: float = 10.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=url, headers=headers, timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.http.request(method, path, **kwargs)
        if r.status_code >= 400:
            try:
                body = r.json()
            except ValueError:
                body = {"title": r.reason_phrase, "detail": r.text}
            raise IpamClientError(r.status_code, body)
        if r.status_code == 204 or not r.content:
            return None
        return r.json()

    def pages(self, path: str, params: dict[str, Any], *, limit: int = 1000) -> Iterator[Any]:
        """Follow next_cursor to the end (bounded by the number of pages the server gives)."""
        query = {k: v for k, v in params.items() if v is not None}
        query["limit"] = limit
        for _ in range(1_000_000):
            page = self.request("GET", path, params=query)
            yield from page["items"]
            if not page["next_cursor"]:
                return
            query["cursor"] = page["next_cursor"]

    def stream_lines(self, path: str, params: dict[str, Any]) -> Iterator[str]:
        with self.http.stream("GET", path, params=params) as r:
            if r.status_code >= 400:
                r.read()
                raise IpamClientError(r.status_code, r.json())
            yield from r.iter_lines()
