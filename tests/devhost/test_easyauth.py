"""Tests of devhost's App Service Authentication emulation: real devhost processes serving `apps/easyauth` over
HTTP (its one function echoes the headers it got), plus the pure parts (codec, redirects, loopback, headers)."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator, Sequence

import httpx
import pytest

from devhost.easyauth import (
    NAME_CLAIM_TYPE,
    ROLE_CLAIM_TYPE,
    SECRET_NAME,
    SESSION_COOKIE,
    SESSION_SECONDS,
    AuthRefused,
    Session,
    SessionCodec,
    check_name,
    dev_login_allowed,
    parse_roles,
    principal_id,
    safe_redirect,
    without_forged_headers,
)
from tests.devhost.conftest import ServeApp
from tests.support.devhost import DevhostProcess

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
FORGED = [
    ("X-MS-CLIENT-PRINCIPAL", base64.b64encode(b'{"auth_typ":"aad","claims":[]}').decode()),
    ("x-ms-client-principal-id", "00000000-0000-0000-0000-000000000001"),
    ("X-Ms-Client-Principal-Name", "mallory"),
    ("X-MS-CLIENT-PRINCIPAL-IDP", "aad"),
    ("X-MS-CLIENT-PRINCIPAL-IDP", "aad-again"),
    ("X-MS-TOKEN-AAD-ACCESS-TOKEN", "forged-token"),
]
"""Identity headers a client might forge: mixed case, one repeated, and a provider token."""


def _serve_without_env_setting(serve_app: ServeApp, **kwargs: object) -> DevhostProcess:
    """Start devhost with `WEBSITE_AUTH_ENABLED` absent from its environment (only local.settings.json decides)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("WEBSITE_AUTH_ENABLED", raising=False)
        return serve_app("easyauth", **kwargs)


@pytest.fixture(scope="module")
def host(serve_app: ServeApp) -> DevhostProcess:
    """devhost with `WEBSITE_AUTH_ENABLED=True` in local.settings.json, listening on 127.0.0.1."""
    return _serve_without_env_setting(serve_app, local_settings={"Values": {"WEBSITE_AUTH_ENABLED": "True"}})


@pytest.fixture(scope="module")
def plain_host(serve_app: ServeApp) -> DevhostProcess:
    """devhost without `WEBSITE_AUTH_ENABLED`."""
    return _serve_without_env_setting(serve_app)


@pytest.fixture
def client(host: DevhostProcess) -> Iterator[httpx.Client]:
    """A client of `host` that keeps no cookies: each test sends the session cookie it means to."""
    with httpx.Client(base_url=host.base_url, timeout=30) as c:
        yield c
        c.cookies.clear()


def _sign_in(client: httpx.Client, user: str = "alice@example.com", **params: str) -> httpx.Response:
    response = client.get("/.auth/login/dev", params={"user": user, **params})
    client.cookies.clear()
    return response


def _session(client: httpx.Client, user: str = "alice@example.com", roles: str = "") -> str:
    response = _sign_in(client, user, roles=roles)
    assert response.status_code == 302, response.text
    return response.cookies[SESSION_COOKIE]


def _echo(client: httpx.Client, cookie: str | None = None, headers: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
    """The headers the function received."""
    sent = list(headers) + ([("Cookie", f"{SESSION_COOKIE}={cookie}")] if cookie is not None else [])
    response = client.get("/api/headers", headers=sent)
    assert response.status_code == 200, response.text
    return response.json()


def _principal_headers(seen: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in seen.items() if name.startswith(("x-ms-client-principal", "x-ms-token"))}


def _me(client: httpx.Client, cookie: str) -> httpx.Response:
    return client.get("/.auth/me", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})


def _secret(host: DevhostProcess) -> bytes:
    return json.loads((host.data_dir / "keys.json").read_text())[SECRET_NAME].encode()


# Signing in and what the function sees


def test_sign_in_sets_a_signed_http_only_lax_cookie_and_redirects(client: httpx.Client) -> None:
    """`/.auth/login/dev` answers 302 to the relative target with an HttpOnly, SameSite=Lax, 8-hour cookie."""
    response = _sign_in(client, roles="reader", post_login_redirect_uri="/chat?x=1")
    assert response.status_code == 302
    assert response.headers["location"] == "/chat?x=1"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=v1.")
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert "httponly" in attributes and attributes["samesite"].lower() == "samesite=lax"
    assert attributes["path"] == "Path=/" and attributes["max-age"] == f"Max-Age={SESSION_SECONDS}"
    assert response.content == b""


def test_sign_in_without_a_target_goes_to_the_login_done_page(client: httpx.Client) -> None:
    """As on Azure, no `post_login_redirect_uri` means `/.auth/login/done`."""
    response = _sign_in(client)
    assert response.status_code == 302 and response.headers["location"] == "/.auth/login/done"
    assert client.get("/.auth/login/done").status_code == 200


def test_signed_in_request_reaches_the_function_with_the_principal_headers(client: httpx.Client) -> None:
    """The function gets the four principal headers; X-MS-CLIENT-PRINCIPAL decodes to the name, roles and id."""
    cookie = _session(client, roles="reader, writer,reader")
    seen = _echo(client, cookie)
    user_id = seen["x-ms-client-principal-id"]
    assert GUID.match(user_id) and user_id == principal_id("alice@example.com")
    assert seen["x-ms-client-principal-name"] == "alice@example.com"
    assert seen["x-ms-client-principal-idp"] == "dev"
    decoded = json.loads(base64.b64decode(seen["x-ms-client-principal"], validate=True))
    assert decoded["auth_typ"] == "dev"
    assert (decoded["name_typ"], decoded["role_typ"]) == (NAME_CLAIM_TYPE, ROLE_CLAIM_TYPE)
    claims = [(claim["typ"], claim["val"]) for claim in decoded["claims"]]
    assert (NAME_CLAIM_TYPE, "alice@example.com") in claims
    assert ("name", "alice@example.com") in claims and ("preferred_username", "alice@example.com") in claims
    assert ("http://schemas.microsoft.com/identity/claims/objectidentifier", user_id) in claims
    assert [value for kind, value in claims if kind == "roles"] == ["reader", "writer"]


def test_the_id_is_stable_per_name(client: httpx.Client) -> None:
    """Two sign-ins of one name give one id; another name another."""
    first = _echo(client, _session(client, "bob"))["x-ms-client-principal-id"]
    again = _echo(client, _session(client, "bob"))["x-ms-client-principal-id"]
    other = _echo(client, _session(client, "carol"))["x-ms-client-principal-id"]
    assert first == again != other


def test_the_session_cookie_is_taken_out_of_what_the_function_sees(client: httpx.Client) -> None:
    """Other cookies reach the function; the session cookie does not (an app echoing headers cannot leak it)."""
    cookie = _session(client)
    seen = client.get("/api/headers", headers={"Cookie": f"theme=dark; {SESSION_COOKIE}={cookie}; lang=en"}).json()
    assert seen["cookie"] == "theme=dark; lang=en"
    assert seen["x-ms-client-principal-name"] == "alice@example.com"
    assert cookie not in json.dumps(seen)


def test_without_a_session_the_request_is_anonymous(client: httpx.Client) -> None:
    """No cookie: the function runs, with no principal headers (the app decides what to answer)."""
    assert _principal_headers(_echo(client)) == {}


# /.auth/me and /.auth/logout


def test_me_answers_the_signed_in_session_as_azure_does(client: httpx.Client, host: DevhostProcess) -> None:
    """`/.auth/me`: a JSON array of one entry with provider_name, user_id, user_claims, expires_on and tokens."""
    cookie = _session(client, roles="admin")
    response = _me(client, cookie)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    (entry,) = response.json()
    assert entry["provider_name"] == "dev" and entry["user_id"] == "alice@example.com"
    assert {"typ": "roles", "val": "admin"} in entry["user_claims"]
    assert {"typ": "name", "val": "alice@example.com"} in entry["user_claims"]
    assert entry["access_token"] is None and entry["id_token"] is None
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$", entry["expires_on"])
    assert cookie not in response.text and _secret(host).decode() not in response.text


def test_me_without_a_session_is_401(client: httpx.Client) -> None:
    """Nobody signed in: 401, as Azure answers (devhost's body is a JSON error)."""
    response = client.get("/.auth/me")
    assert response.status_code == 401
    assert "signed in" in response.json()["error"]


def test_logout_clears_the_cookie_ends_the_session_and_redirects(client: httpx.Client) -> None:
    """`/.auth/logout` expires the cookie, redirects to the relative target, and the old cookie no longer works."""
    cookie = _session(client)
    assert _me(client, cookie).status_code == 200
    response = client.get(
        "/.auth/logout",
        params={"post_logout_redirect_uri": "/bye"},
        headers={"Cookie": f"{SESSION_COOKIE}={cookie}"},
    )
    assert response.status_code == 302 and response.headers["location"] == "/bye"
    cleared = response.headers["set-cookie"]
    assert cleared.startswith(f"{SESSION_COOKIE}=") and "Max-Age=0" in cleared
    assert _me(client, cookie).status_code == 401
    assert _principal_headers(_echo(client, cookie)) == {}


def test_logout_without_a_target_goes_to_the_logout_done_page(client: httpx.Client) -> None:
    """As on Azure, no `post_logout_redirect_uri` means `/.auth/logout/done`."""
    response = client.get("/.auth/logout")
    assert response.status_code == 302 and response.headers["location"] == "/.auth/logout/done"
    assert client.get("/.auth/logout/done").status_code == 200


# Forged headers and cookies


def test_forged_principal_headers_never_reach_the_function_without_a_session(client: httpx.Client) -> None:
    """Auth on, no session: every forged X-MS-CLIENT-PRINCIPAL* / X-MS-TOKEN-* header is removed."""
    seen = _echo(client, headers=FORGED + [("X-Other", "kept")])
    assert _principal_headers(seen) == {}
    assert seen["x-other"] == "kept"


def test_forged_principal_headers_never_reach_the_function_with_a_session(client: httpx.Client) -> None:
    """Auth on, signed in: the function sees devhost's principal headers only, never a forged copy beside them."""
    seen = _echo(client, _session(client, "alice"), headers=FORGED)
    assert seen["x-ms-client-principal-name"] == "alice"
    assert seen["x-ms-client-principal-idp"] == "dev"
    assert seen["x-ms-client-principal-id"] == principal_id("alice")
    assert json.loads(base64.b64decode(seen["x-ms-client-principal"]))["auth_typ"] == "dev"
    assert "x-ms-token-aad-access-token" not in seen


def test_forged_principal_headers_never_reach_the_function_with_auth_off(plain_host: DevhostProcess) -> None:
    """Auth off: forged identity headers are removed all the same (an app must never believe one)."""
    with httpx.Client(base_url=plain_host.base_url, timeout=30) as client:
        seen = _echo(client, headers=FORGED + [("X-Other", "kept")])
    assert _principal_headers(seen) == {}
    assert seen["x-other"] == "kept"


def _tampered(host: DevhostProcess, cookie: str) -> dict[str, str]:
    version, body, mac = cookie.split(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    admin = base64.urlsafe_b64encode(json.dumps({**data, "n": "admin"}).encode()).rstrip(b"=").decode()
    flipped = mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB")
    expired = Session("alice", (), int(time.time()) - 1)
    return {
        "another name, same signature": f"{version}.{admin}.{mac}",
        "signature changed": f"{version}.{body}.{flipped}",
        "signed with another key": SessionCodec(b"not the key").encode(Session("alice", (), data["e"])),
        "expired, signed with the real key": SessionCodec(_secret(host)).encode(expired),
        "no signature": f"{version}.{body}",
        "garbage": "v1.%%%.&&&",
    }


def test_a_tampered_or_expired_cookie_counts_as_no_session(client: httpx.Client, host: DevhostProcess) -> None:
    """Changed payload, changed or foreign signature, expiry passed, garbage: `/.auth/me` 401, function anonymous."""
    cookie = _session(client, "alice")
    assert _me(client, cookie).status_code == 200
    for why, bad in _tampered(host, cookie).items():
        assert _me(client, bad).status_code == 401, why
        assert _principal_headers(_echo(client, bad)) == {}, why


# Redirects and validation


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "http:/evil.example",
    ],
)
@pytest.mark.parametrize(
    ("endpoint", "parameter"), [("login/dev", "post_login_redirect_uri"), ("logout", "post_logout_redirect_uri")]
)
def test_open_redirect_attempts_land_on_root(client: httpx.Client, endpoint: str, parameter: str, target: str) -> None:
    """Anything but a path on this host (scheme, `//host`, backslashes, control characters) redirects to `/`."""
    response = client.get(f"/.auth/{endpoint}", params={"user": "alice", parameter: target})
    assert response.status_code == 302 and response.headers["location"] == "/"


def test_a_percent_encoded_double_slash_lands_on_root(client: httpx.Client) -> None:
    """`%2F%2Fevil` in the query decodes to `//evil`: refused too."""
    for endpoint, parameter in (
        ("login/dev?user=alice&", "post_login_redirect_uri"),
        ("logout?", "post_logout_redirect_uri"),
    ):
        response = client.get(f"/.auth/{endpoint}{parameter}=%2F%2Fevil")
        assert response.status_code == 302 and response.headers["location"] == "/"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"user": ""},
        {"user": "   "},
        {"user": "x" * 129},
        {"user": "bell\x07"},
        {"user": "Zoë"},
        {"user": " padded"},
        {"user": "alice", "roles": ",".join(f"r{i}" for i in range(21))},
        {"user": "alice", "roles": "r" * 65},
        {"user": "alice", "roles": "has space"},
    ],
)
def test_bad_names_and_roles_are_400_without_a_cookie(client: httpx.Client, params: dict[str, str]) -> None:
    """Empty, long, unprintable or non-ASCII names; too many, too long or spaced roles: 400 JSON, nobody signed in."""
    response = client.get("/.auth/login/dev", params=params)
    assert response.status_code == 400
    assert response.json()["error"]
    assert "set-cookie" not in response.headers


def test_a_name_given_twice_is_400(client: httpx.Client) -> None:
    assert client.get("/.auth/login/dev?user=alice&user=admin").status_code == 400


@pytest.mark.parametrize("provider", ["aad", "google", "github", ""])
def test_other_providers_are_404_naming_dev(client: httpx.Client, provider: str) -> None:
    """devhost has the `dev` provider only."""
    response = client.get(f"/.auth/login/{provider}")
    assert response.status_code == 404
    assert "dev" in response.json()["error"]


def test_other_methods_and_paths(client: httpx.Client) -> None:
    """POST to a /.auth endpoint is 405 with Allow; an unknown /.auth path is 404 JSON."""
    response = client.post("/.auth/me")
    assert response.status_code == 405 and response.headers["allow"] == "GET"
    assert client.get("/.auth/refresh").status_code == 404


# Where the dev provider works


@pytest.mark.parametrize(
    ("listen", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.10", False),
        ("10.0.0.1", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_dev_login_only_on_loopback_addresses(listen: str, allowed: bool) -> None:
    assert dev_login_allowed(listen) is allowed


def test_dev_login_refused_when_listening_on_every_interface(serve_app: ServeApp) -> None:
    """devhost on 0.0.0.0: the login is 404 JSON saying why, and no cookie is set."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("WEBSITE_AUTH_ENABLED", raising=False)
        exposed = serve_app(
            "easyauth",
            local_settings={"Values": {"WEBSITE_AUTH_ENABLED": "true"}},
            extra_args=("--host", "0.0.0.0"),
        )
    response = httpx.get(f"{exposed.base_url}/.auth/login/dev", params={"user": "alice"}, timeout=30)
    assert response.status_code == 404
    assert "loopback" in response.json()["error"]
    assert "set-cookie" not in response.headers
    assert httpx.get(f"{exposed.base_url}/.auth/me", timeout=30).status_code == 401


# Auth off


@pytest.mark.parametrize("path", ["/.auth/me", "/.auth/login/dev?user=alice", "/.auth/logout", "/.auth"])
def test_auth_off_answers_404_json(plain_host: DevhostProcess, path: str) -> None:
    """Without `WEBSITE_AUTH_ENABLED`, every /.auth path is 404 JSON naming the setting; nobody can sign in."""
    response = httpx.get(f"{plain_host.base_url}{path}", timeout=30)
    assert response.status_code == 404
    assert "WEBSITE_AUTH_ENABLED" in response.json()["error"]
    assert "set-cookie" not in response.headers


# The key: kept, private, never shown


def test_the_key_is_kept_private_and_sessions_survive_a_restart(client: httpx.Client, host: DevhostProcess) -> None:
    """The session key lives in keys.json (mode 600) beside the host keys; after a restart a cookie still works;
    neither the key nor a cookie appears in devhost's log."""
    cookie = _session(client, "dana", roles="reader")
    keys_file = host.data_dir / "keys.json"
    assert (keys_file.stat().st_mode & 0o777) == 0o600
    secret = _secret(host).decode()
    host.restart()
    assert _secret(host).decode() == secret
    assert _me(client, cookie).status_code == 200
    assert json.loads(keys_file.read_text())["durabletask_extension"]
    log_text = host.log_text()
    assert "dana signed in" in log_text
    assert secret not in log_text and cookie not in log_text and cookie.split(".")[2] not in log_text


# The pure parts


def test_codec_round_trip_and_expiry() -> None:
    codec = SessionCodec(b"k" * 32)
    session = Session("alice", ("a", "b"), 1_000)
    value = codec.encode(session)
    assert codec.decode(value, now=999) == session
    assert codec.decode(value, now=1_000) is None
    assert SessionCodec(b"j" * 32).decode(value, now=0) is None
    assert "k" * 32 not in repr(codec)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (None, "/done"),
        ("", "/done"),
        ("/", "/"),
        ("/a/b?c=d#e", "/a/b?c=d#e"),
        ("/%2F%2Fevil", "/%2F%2Fevil"),
        ("//evil", "/"),
        ("/\\evil", "/"),
        ("/a\\b", "/"),
        ("https://evil", "/"),
        ("/a b", "/"),
        ("/\nx", "/"),
        ("/" + "a" * 3000, "/"),
    ],
)
def test_safe_redirect(target: str | None, expected: str) -> None:
    assert safe_redirect(target, "/done") == expected


def test_forged_headers_removed_in_any_case_and_every_copy() -> None:
    headers = [(name.lower().encode(), value.encode()) for name, value in FORGED] + [
        (b"X-MS-CLIENT-PRINCIPAL", b"upper"),
        (b"cookie", f"a=1; {SESSION_COOKIE}=v1.x.y".encode()),
        (b"host", b"h"),
    ]
    kept, session = without_forged_headers(headers, take_session=True)
    assert kept == [(b"cookie", b"a=1"), (b"host", b"h")] and session == "v1.x.y"
    kept, session = without_forged_headers(headers, take_session=False)
    assert (b"cookie", f"a=1; {SESSION_COOKIE}=v1.x.y".encode()) in kept and session is None


def test_name_and_role_rules() -> None:
    assert check_name("Alice Smith") == "Alice Smith"
    assert parse_roles(" a, b ,a,, ") == ("a", "b")
    assert parse_roles("") == ()
    for bad in ("", "x" * 129, "tab\there", "ünï"):
        with pytest.raises(AuthRefused):
            check_name(bad)


def test_principal_id_is_a_guid_of_the_name() -> None:
    assert GUID.match(principal_id("alice"))
    assert principal_id("alice") == principal_id("alice") != principal_id("Alice")
