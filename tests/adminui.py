"""Logging in to a generated project's database admin UI (Adminer) as a person would: its
login form, a session cookie, then the page of the database's tables."""

from __future__ import annotations

import http.cookiejar
import urllib.parse
import urllib.request


def tables_page(
    port: int | str, driver: str, server: str, user: str, password: str, db: str
) -> str:
    """The page Adminer shows after logging in (it lists the database's tables). A refused
    login raises urllib's HTTPError (Adminer answers 403)."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    base = f"http://127.0.0.1:{port}/"
    form = opener.open(base, timeout=30).read().decode()
    assert 'name="auth[server]"' in form, form[:500]
    fields = {
        "auth[driver]": driver,
        "auth[server]": server,
        "auth[username]": user,
        "auth[password]": password,
        "auth[db]": db,
    }
    with opener.open(base, urllib.parse.urlencode(fields).encode(), timeout=30) as response:
        return response.read().decode()
