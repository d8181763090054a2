"""A coach using the dashboard over HTTP (signs in, reads pages, posts its forms)."""

from __future__ import annotations

import re

import httpx

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Coach:
    """One signed-in coach (a cookie jar and the session's CSRF token)."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30, follow_redirects=True)
        self.username = username
        page = self.http.get("/login")
        response = self.http.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": self._token(page)},
        )
        assert "Sign out" in response.text, response.text[:500]
        self.csrf = self._token(response)

    @staticmethod
    def _token(page: httpx.Response) -> str:
        found = _CSRF.search(page.text)
        assert found, page.text[:500]
        return found.group(1)

    def get(self, path: str) -> httpx.Response:
        response = self.http.get(path)
        response.raise_for_status()
        return response

    def post(self, path: str, **fields: str) -> httpx.Response:
        return self.http.post(path, data={"csrf_token": self.csrf, **fields})

    def waiting_handoff(self, sender: str) -> int:
        """The id of the open request of `sender`, from the list's pinned section."""
        page = self.get("/conversations").text
        pinned = page.split("<h2>All conversations</h2>")[0]
        row = re.search(rf'data-sender="{sender}"[^>]*>.*?/handoffs/(\d+)/take', pinned, re.DOTALL)
        assert row, f"{sender} is not waiting in: {pinned[:2000]}"
        return int(row.group(1))

    def close(self) -> None:
        self.http.close()
