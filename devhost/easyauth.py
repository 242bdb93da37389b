"""App Service Authentication ("Easy Auth") as devhost emulates it, so an app can have people sign in locally.

On Azure, App Service Authentication stands in front of the app: it signs people in (`/.auth/login/<provider>`),
keeps their session in a cookie, answers `/.auth/me` and `/.auth/logout`, and hands each request of a signed-in
person to the app with the `X-MS-CLIENT-PRINCIPAL*` headers, after removing any a client sent. devhost does the
same when the setting `WEBSITE_AUTH_ENABLED` is true, with one provider of its own, `dev`:
`GET /.auth/login/dev?user=NAME&roles=a,b` signs NAME in without a password, and only while devhost listens on a
loopback address. The session is a cookie signed with HMAC-SHA256 (its key kept in `<data-dir>/keys.json`);
requests without a valid one reach the app anonymous, as with Easy Auth's "allow unauthenticated requests".
Client-sent principal and provider-token headers are removed from every request, emulation on or off. The
session cookie and its key never appear in a log line or an answer. docs/devhost.md says what matches Azure
and what differs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from devhost.config import HostConfig
from devhost.keys import kept_secret
from devhost.responses import JSONResponse, json_error

__all__ = [
    "DEV_PROVIDER",
    "NAME_CLAIM_TYPE",
    "ROLE_CLAIM_TYPE",
    "SECRET_NAME",
    "SESSION_COOKIE",
    "SESSION_SECONDS",
    "AuthRefused",
    "EasyAuth",
    "Session",
    "SessionCodec",
    "check_name",
    "claims",
    "dev_login_allowed",
    "me_entry",
    "parse_roles",
    "principal",
    "principal_headers",
    "principal_id",
    "safe_redirect",
    "without_forged_headers",
]

log = logging.getLogger("devhost")

SESSION_COOKIE = "AppServiceAuthSession"
"""The session cookie's name (App Service's own)."""
SESSION_SECONDS = 8 * 60 * 60
"""How long a sign-in lasts (the cookie's Max-Age and the expiry it carries)."""
SECRET_NAME = "easyAuthSessionKey"
"""The session key's name in `<data-dir>/keys.json`."""
DEV_PROVIDER = "dev"
"""devhost's one sign-in provider: `auth_typ` and `X-MS-CLIENT-PRINCIPAL-IDP`."""
NAME_CLAIM_TYPE = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
"""`name_typ`, as App Service sends it for Microsoft Entra ID."""
ROLE_CLAIM_TYPE = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
"""`role_typ`, as App Service sends it (Entra's role claims themselves come as `roles`)."""
NAME_ID_CLAIM_TYPE = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
OBJECT_ID_CLAIM_TYPE = "http://schemas.microsoft.com/identity/claims/objectidentifier"
MAX_NAME_LENGTH = 128
MAX_ROLES = 20
MAX_ROLE_LENGTH = 64
MAX_REDIRECT_LENGTH = 2048

_STRIPPED_PREFIXES = (b"x-ms-client-principal", b"x-ms-token-")
_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "devhost:easyauth:dev")
_MAC_CONTEXT = b"devhost easy auth session v1:"
_LOGIN_DONE = "/.auth/login/done"
_LOGOUT_DONE = "/.auth/logout/done"
_LOGIN_HINT = "/.auth/login/dev?user=NAME[&roles=a,b][&post_login_redirect_uri=/path]"


class AuthRefused(Exception):
    """A `/.auth` request devhost does not serve: answered with `status` and JSON `{"error": message}`."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


@dataclass(frozen=True)
class Session:
    """A signed-in person, as their session cookie carries them."""

    name: str
    """The name given at sign-in (`X-MS-CLIENT-PRINCIPAL-NAME`)."""
    roles: tuple[str, ...]
    """App roles, in the order given (one `roles` claim each)."""
    expires: int
    """When the session ends, in seconds since the epoch."""


def principal_id(name: str) -> str:
    """The stable opaque id of `name` (`X-MS-CLIENT-PRINCIPAL-ID`): a name-based UUID, shaped like Entra's ids."""
    return str(uuid.uuid5(_ID_NAMESPACE, name))


def claims(session: Session) -> list[dict[str, str]]:
    """The session's claims, with the claim types Microsoft Entra ID's principal uses."""
    user_id = principal_id(session.name)
    found = [
        {"typ": NAME_ID_CLAIM_TYPE, "val": user_id},
        {"typ": OBJECT_ID_CLAIM_TYPE, "val": user_id},
        {"typ": NAME_CLAIM_TYPE, "val": session.name},
        {"typ": "name", "val": session.name},
        {"typ": "preferred_username", "val": session.name},
    ]
    return found + [{"typ": "roles", "val": role} for role in session.roles]


def principal(session: Session) -> dict[str, Any]:
    """The decoded `X-MS-CLIENT-PRINCIPAL` of a session."""
    return {
        "auth_typ": DEV_PROVIDER,
        "claims": claims(session),
        "name_typ": NAME_CLAIM_TYPE,
        "role_typ": ROLE_CLAIM_TYPE,
    }


def principal_headers(session: Session) -> list[tuple[bytes, bytes]]:
    """The headers a signed-in request reaches the app with (names lower-case, as ASGI carries them)."""
    encoded = base64.b64encode(json.dumps(principal(session), separators=(",", ":")).encode("utf-8"))
    return [
        (b"x-ms-client-principal", encoded),
        (b"x-ms-client-principal-id", principal_id(session.name).encode("ascii")),
        (b"x-ms-client-principal-name", session.name.encode("ascii")),
        (b"x-ms-client-principal-idp", DEV_PROVIDER.encode("ascii")),
    ]


def me_entry(session: Session) -> dict[str, Any]:
    """The session's item of `/.auth/me` (the dev provider issues no tokens: they are null)."""
    expires = datetime.fromtimestamp(session.expires, UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    return {
        "access_token": None,
        "expires_on": expires,
        "id_token": None,
        "provider_name": DEV_PROVIDER,
        "user_claims": claims(session),
        "user_id": session.name,
    }


def _printable(text: str, *, spaces: bool) -> bool:
    low = " " if spaces else "!"
    return all(low <= ch <= "~" for ch in text)


def check_name(value: str) -> str:
    """`value` if it can be a user name (1-128 printable ASCII characters, not starting or ending with a space)."""
    if not value.strip():
        raise AuthRefused(400, f"give the user's name: {_LOGIN_HINT}")
    if len(value) > MAX_NAME_LENGTH:
        raise AuthRefused(400, f"the user name has {len(value)} characters; at most {MAX_NAME_LENGTH}")
    if not _printable(value, spaces=True) or value != value.strip():
        raise AuthRefused(400, "the user name must be printable ASCII, without spaces at either end")
    return value


def _check_role(role: str) -> str:
    if not role or len(role) > MAX_ROLE_LENGTH or not _printable(role, spaces=False) or "," in role:
        raise AuthRefused(
            400, f"each role must be 1-{MAX_ROLE_LENGTH} printable ASCII characters without spaces or commas"
        )
    return role


def parse_roles(text: str) -> tuple[str, ...]:
    """The roles in `a,b,c` (blank items skipped, repeats dropped); at most 20, each 1-64 characters."""
    roles = tuple(dict.fromkeys(item.strip() for item in text.split(",") if item.strip()))
    if len(roles) > MAX_ROLES:
        raise AuthRefused(400, f"{len(roles)} roles were given; at most {MAX_ROLES}")
    return tuple(_check_role(role) for role in roles)


def safe_redirect(target: str | None, default: str) -> str:
    """Where to send the browser: `target` if it is a path on this host (a single leading `/`, printable ASCII,
    no `\\`), `default` if it is absent or empty, else `/` (never another host)."""
    if not target:
        return default
    if (
        len(target) > MAX_REDIRECT_LENGTH
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or not _printable(target, spaces=False)
    ):
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


def dev_login_allowed(host: str) -> bool:
    """Whether the `dev` provider may sign people in while devhost listens on `host`: loopback addresses only
    (127.0.0.0/8, ::1, `localhost`)."""
    text = host.strip().strip("[]").lower()
    if text == "localhost":
        return True
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return (mapped or address).is_loopback


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    """Sessions to cookie values and back: `v1.<base64url JSON>.<base64url HMAC-SHA256 of the JSON part>`.

    A value that is malformed, signed with another key, changed in any way, or past its expiry is no session.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "SessionCodec(<key hidden>)"

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, _MAC_CONTEXT + body.encode("ascii"), hashlib.sha256).digest())

    def encode(self, session: Session) -> str:
        """The cookie value of `session`."""
        data = {"n": session.name, "r": list(session.roles), "e": session.expires}
        body = _b64(json.dumps(data, separators=(",", ":")).encode("ascii"))
        return f"v1.{body}.{self._mac(body)}"

    def decode(self, value: str, now: float) -> Session | None:
        """The session `value` carries, or None when it is not a valid, unexpired session of this key."""
        version, _, rest = value.partition(".")
        body, _, mac = rest.partition(".")
        if version != "v1" or not body or not mac or not body.isascii():
            return None
        if not hmac.compare_digest(self._mac(body).encode("ascii"), mac.encode("utf-8", "replace")):
            return None
        try:
            data = json.loads(_unb64(body))
            name, roles, expires = data["n"], data["r"], data["e"]
            if not (isinstance(name, str) and isinstance(roles, list) and type(expires) is int) or expires <= now:
                return None
            if not all(isinstance(role, str) for role in roles):
                return None
            return Session(check_name(name), tuple(_check_role(role) for role in roles), expires)
        except (ValueError, TypeError, KeyError, binascii.Error, AuthRefused):
            return None


def without_forged_headers(
    headers: Iterable[tuple[bytes, bytes]], *, take_session: bool
) -> tuple[list[tuple[bytes, bytes]], str | None]:
    """`headers` without any `X-MS-CLIENT-PRINCIPAL*` or `X-MS-TOKEN-*` (any case, every copy); with
    `take_session`, also without the session cookie, whose value is returned (the last one sent)."""
    kept: list[tuple[bytes, bytes]] = []
    session: str | None = None
    for name, value in headers:
        lowered = bytes(name).lower()
        if lowered.startswith(_STRIPPED_PREFIXES):
            continue
        if take_session and lowered == b"cookie":
            value, found = _take_session_cookie(bytes(value))
            session = found if found is not None else session
            if not value:
                continue
        kept.append((bytes(name), bytes(value)))
    return kept, session


def _take_session_cookie(header: bytes) -> tuple[bytes, str | None]:
    """A `Cookie` header without the session cookie, and that cookie's value (None when absent)."""
    others: list[str] = []
    found: str | None = None
    for part in header.decode("latin-1").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name.strip() == SESSION_COOKIE:
            found = value.strip().strip('"')
        elif part.strip():
            others.append(part.strip())
    return "; ".join(others).encode("latin-1"), found


def _is_auth_path(path: str) -> bool:
    lowered = path.lower()
    return lowered == "/.auth" or lowered.startswith("/.auth/")


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _redirect(target: str) -> Response:
    return _no_store(Response(status_code=302, headers={"Location": target}))


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode("utf-8", "replace")).hexdigest()


class EasyAuth:
    """ASGI middleware in front of every route: removes forged identity headers always; with `WEBSITE_AUTH_ENABLED`,
    serves `/.auth/*` and adds the principal headers of a valid session."""

    def __init__(self, app: ASGIApp, config: HostConfig, clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.enabled = config.easy_auth
        self.host = config.host
        self.dev_allowed = dev_login_allowed(config.host)
        self.data_dir = config.data_dir
        self.clock = clock
        self._codec: SessionCodec | None = None
        # Digests of signed-out cookies -> when they would have expired anyway (kept by this process only).
        self._ended: dict[str, int] = {}
        self._endpoints: dict[str, Callable[[QueryParams, str | None], Response]] = {
            "/.auth/login/dev": self._login,
            _LOGIN_DONE: lambda query, cookie: JSONResponse({"message": "You are signed in."}),
            "/.auth/me": self._me,
            "/.auth/logout": self._logout,
            _LOGOUT_DONE: lambda query, cookie: JSONResponse({"message": "You have signed out."}),
        }

    @property
    def codec(self) -> SessionCodec:
        """The session codec, its key read (or made) in `<data-dir>/keys.json` the first time it is needed."""
        if self._codec is None:
            self._codec = SessionCodec(kept_secret(self.data_dir, SECRET_NAME).encode("ascii"))
        return self._codec

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers, cookie = without_forged_headers(scope.get("headers", ()), take_session=self.enabled)
        if scope["type"] == "http" and _is_auth_path(scope["path"]):
            response = self._auth_endpoint(scope, cookie)
            await response(scope, receive, send)
            return
        session = self._session(cookie) if self.enabled else None
        if session is not None:
            headers.extend(principal_headers(session))
        await self.app({**scope, "headers": headers}, receive, send)

    def _session(self, cookie: str | None) -> Session | None:
        if not cookie or _digest(cookie) in self._ended:
            return None
        return self.codec.decode(cookie, self.clock())

    def _auth_endpoint(self, scope: Scope, cookie: str | None) -> Response:
        try:
            return self._serve(scope, cookie)
        except AuthRefused as refused:
            return _no_store(json_error(refused.status, refused.message, refused.headers))

    def _serve(self, scope: Scope, cookie: str | None) -> Response:
        if not self.enabled:
            raise AuthRefused(
                404,
                "App Service Authentication is off: devhost serves /.auth/* only when the setting "
                "WEBSITE_AUTH_ENABLED is true (in the environment or local.settings.json Values)",
            )
        path = scope["path"].rstrip("/").lower()
        endpoint = self._endpoints.get(path)
        if endpoint is None:
            if path == "/.auth/login" or path.startswith("/.auth/login/"):
                provider = path.removeprefix("/.auth/login").strip("/") or "(none)"
                raise AuthRefused(404, f"devhost has one sign-in provider, dev ({_LOGIN_HINT}), not {provider}")
            raise AuthRefused(404, "devhost's /.auth endpoints are /.auth/login/dev, /.auth/me and /.auth/logout")
        if scope["method"] != "GET":
            raise AuthRefused(405, f"method {scope['method']} is not allowed on {path}; allowed: GET", {"Allow": "GET"})
        return endpoint(QueryParams(scope.get("query_string", b"")), cookie)

    def _login(self, query: QueryParams, cookie: str | None) -> Response:
        if not self.dev_allowed:
            raise AuthRefused(
                404,
                "the dev provider signs people in only while devhost listens on a loopback address "
                f"(127.0.0.1, ::1, localhost); it listens on {self.host or 'every interface'}",
            )
        names = query.getlist("user")
        if len(names) != 1:
            raise AuthRefused(400, f"give the user's name once: {_LOGIN_HINT}")
        name = check_name(names[0])
        roles = parse_roles(",".join(query.getlist("roles")))
        session = Session(name, roles, int(self.clock()) + SESSION_SECONDS)
        response = _redirect(safe_redirect(query.get("post_login_redirect_uri"), _LOGIN_DONE))
        response.set_cookie(
            SESSION_COOKIE, self.codec.encode(session), max_age=SESSION_SECONDS, path="/", httponly=True, samesite="lax"
        )
        log.info("Easy Auth: %s signed in with the dev provider (roles: %s)", name, ", ".join(roles) or "none")
        return response

    def _me(self, query: QueryParams, cookie: str | None) -> Response:
        session = self._session(cookie)
        if session is None:
            raise AuthRefused(401, f"no one is signed in; sign in with {_LOGIN_HINT}")
        return _no_store(JSONResponse([me_entry(session)]))

    def _logout(self, query: QueryParams, cookie: str | None) -> Response:
        session = self._session(cookie)
        if session is not None and cookie is not None:
            self._end(cookie, session.expires)
            log.info("Easy Auth: %s signed out", session.name)
        response = _redirect(safe_redirect(query.get("post_logout_redirect_uri"), _LOGOUT_DONE))
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
        return response

    def _end(self, cookie: str, expires: int) -> None:
        """Refuse this cookie from now on (until it would have expired anyway)."""
        now = self.clock()
        self._ended = {digest: until for digest, until in self._ended.items() if until > now}
        self._ended[_digest(cookie)] = expires
