"""Helpers shared by the portal tests: sign in through the real login form."""

from __future__ import annotations

import re

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def login(client, username: str = "citizen", password: str = "citizen-demo-2026"):  # type: ignore[no-untyped-def]
    """Sign ``client`` in with the demo password; returns the login response."""
    page = client.get("/login")
    token = CSRF.search(page.get_data(as_text=True)).group(1)
    return client.post("/login", data={"csrf_token": token, "username": username,
                                       "password": password})


def csrf(client, path: str) -> str:
    """The CSRF token embedded in the page at ``path``."""
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)
