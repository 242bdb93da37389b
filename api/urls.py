"""The origin of the URLs the app hands out (status, events, approvals): never steered by what a client sends.

On Azure it is `https://` + `WEBSITE_HOSTNAME` (devhost sets `WEBSITE_HOSTNAME` to its own address, as Core Tools
does, over `http`). A front end (a custom domain, a tunnel, a reverse proxy) forwards its own host in
`X-Forwarded-Host` (or `Host`): that host is used only when it is listed in `CHAT_PUBLIC_HOSTS`, and only then does
`X-Forwarded-Proto` choose the scheme. A host nobody listed never appears in an answer, so a request cannot make
the app hand out a link (which may carry a key in `code=`) to a host of the client's choosing. The app's own calls
never use any of this: its durable client talks to the local host (devhost and Azure give it that address).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from assistant.settings import assistant_settings

__all__ = ["public_origin", "public_url"]


def _first(value: str | None) -> str:
    """The first of a comma-separated header's values (proxies append theirs)."""
    return (value or "").split(",", 1)[0].strip()


def public_origin(headers: Mapping[str, str], request_url: str) -> str:
    """`scheme://host[:port]` of the URLs to hand out for a request with `headers` that arrived at `request_url`."""
    settings = assistant_settings()
    forwarded = _first(headers.get("X-Forwarded-Host")) or _first(headers.get("Host"))
    if forwarded and forwarded.lower() in settings.public_hosts:
        proto = _first(headers.get("X-Forwarded-Proto")).lower()
        scheme = proto if proto in ("http", "https") else ("https" if settings.on_azure else "http")
        return f"{scheme}://{forwarded}"
    if settings.site_hostname:  # the app's own address: https on Azure, devhost's plain http locally
        return f"{'https' if settings.on_azure else 'http'}://{settings.site_hostname}"
    parts = urlsplit(request_url)
    return f"{parts.scheme}://{parts.netloc}"


def public_url(headers: Mapping[str, str], request_url: str) -> str:
    """`request_url` on the public origin (path and query kept)."""
    parts = urlsplit(request_url)
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    return public_origin(headers, request_url) + tail
