"""Unit tests of route templates, matching, precedence and the 404/405 decision."""

from __future__ import annotations

import pytest

from devhost.routing import FunctionRoute, Match, RouteTable, RouteTemplate, RouteTemplateError, split_path


def _match(template: str, path: str, prefix: str = "api") -> dict[str, str] | None:
    return RouteTemplate.parse(template, prefix).match(split_path(path))


def test_literal_route_is_case_insensitive_and_ignores_trailing_slash() -> None:
    assert _match("Items/All", "/API/items/ALL/") == {}
    assert _match("items/all", "/api/items/none") is None


def test_prefix_applies_and_can_be_empty() -> None:
    assert _match("items", "/api/items") == {}
    assert _match("items", "/items") is None
    assert _match("items", "/items", prefix="") == {}
    assert _match("items", "/v1/x/items", prefix="/v1/x/") == {}


def test_parameters_are_decoded_values() -> None:
    assert _match("users/{id}/posts/{post}", "/api/users/a%20b/posts/7") == {"id": "a b", "post": "7"}
    assert _match("users/{id}", "/api/users") is None
    assert _match("users/{id}", "/api/users/1/extra") is None


def test_optional_parameter() -> None:
    assert _match("opt/{name?}", "/api/opt") == {}
    assert _match("opt/{name?}", "/api/opt/x") == {"name": "x"}


def test_default_value() -> None:
    assert _match("page/{n:int=1}", "/api/page") == {"n": "1"}
    assert _match("page/{n:int=1}", "/api/page/3") == {"n": "3"}
    assert _match("page/{n:int=1}", "/api/page/x") is None


def test_catch_all_takes_rest_including_slashes_and_may_be_empty() -> None:
    assert _match("files/{*path}", "/api/files/a/b/c.txt") == {"path": "a/b/c.txt"}
    assert _match("files/{**path}", "/api/files/a%2Fb") == {"path": "a/b"}
    assert _match("files/{*path}", "/api/files") == {}


@pytest.mark.parametrize(
    ("template", "good", "bad"),
    [
        ("{v:int}", ["42", "-7"], ["4.2", "abc", "99999999999"]),
        ("{v:long}", ["99999999999"], ["1e3"]),
        ("{v:alpha}", ["Abc"], ["ab1", "a-b"]),
        ("{v:bool}", ["true", "False"], ["yes", "1"]),
        ("{v:guid}", ["0f8fad5b-d9cb-469f-a165-70867728950e"], ["not-a-guid"]),
        ("{v:double}", ["1.5", "-2"], ["x1"]),
        ("{v:minlength(3)}", ["abc"], ["ab"]),
        ("{v:maxlength(2)}", ["ab"], ["abc"]),
        ("{v:length(2)}", ["ab"], ["a", "abc"]),
        ("{v:length(1,2)}", ["a", "ab"], ["abc"]),
        ("{v:min(10)}", ["10", "11"], ["9", "x"]),
        ("{v:max(10)}", ["10"], ["11"]),
        ("{v:range(1,3)}", ["1", "3"], ["0", "4"]),
        ("{v:regex(^\\d{{3}}-\\d{{2}}$)}", ["123-45"], ["12-345", "1234-56"]),
        ("{v:int:range(1,5)}", ["5"], ["6", "x"]),
    ],
)
def test_constraints_select_values(template: str, good: list[str], bad: list[str]) -> None:
    """Each inline constraint accepts and rejects values as ASP.NET's does."""
    parsed = RouteTemplate.parse(template)
    for value in good:
        assert parsed.match([value]) == {"v": value}, value
    for value in bad:
        assert parsed.match([value]) is None, value


def test_complex_segment() -> None:
    """`{name}.{ext}` splits at the last dot, as ASP.NET does."""
    assert _match("f/{name}.{ext}", "/api/f/archive.tar.gz") == {"name": "archive.tar", "ext": "gz"}
    assert _match("f/{name}.{ext}", "/api/f/noext") is None
    assert _match("v{major:int}/x", "/api/V2/x") == {"major": "2"}


@pytest.mark.parametrize(
    "template",
    ["a/{*rest}/b", "{id}{other}", "{a}/{a}", "a/{b?}/c", "{x:nosuch}", "{x", "x}", "a//b", "{x:min(a)}", "{ }"],
)
def test_invalid_templates_are_rejected(template: str) -> None:
    with pytest.raises(RouteTemplateError):
        RouteTemplate.parse(template)


def test_precedence_literal_before_constrained_before_param_before_catch_all() -> None:
    """Precedence digits follow ASP.NET: literal 1, constrained 2, parameter 3, catch-all 5."""
    assert RouteTemplate.parse("a/b").precedence == (1, 1)
    assert RouteTemplate.parse("a/{id:int}").precedence == (1, 2)
    assert RouteTemplate.parse("a/{id}").precedence == (1, 3)
    assert RouteTemplate.parse("a/{*rest}").precedence == (1, 5)


def _table(*routes: tuple[str, str, tuple[str, ...] | None]) -> RouteTable:
    return RouteTable(
        FunctionRoute(name, RouteTemplate.parse(template, "api"), frozenset(methods) if methods else None)
        for name, template, methods in routes
    )


def test_table_prefers_literal_over_parameter_regardless_of_order() -> None:
    table = _table(("catch", "items/{*rest}", None), ("param", "items/{id}", None), ("literal", "items/new", None))
    assert table.resolve("GET", split_path("/api/items/new")).route.function_name == "literal"  # type: ignore[union-attr]
    assert table.resolve("GET", split_path("/api/items/5")).route.function_name == "param"  # type: ignore[union-attr]
    assert table.resolve("GET", split_path("/api/items/5/6")).route.function_name == "catch"  # type: ignore[union-attr]


def test_table_full_match_on_lower_precedence_beats_partial() -> None:
    """A literal route with the wrong method does not hide a parameter route with the right one."""
    table = _table(("new", "items/new", ("GET",)), ("update", "items/{id}", ("POST",)))
    decision = table.resolve("POST", split_path("/api/items/new"))
    assert decision.match is Match.FULL and decision.route is not None
    assert decision.route.function_name == "update"
    assert decision.route_params == {"id": "new"}


def test_table_405_lists_every_method_of_the_path() -> None:
    table = _table(("get", "items/{id:int}", ("GET",)), ("delete", "items/{id:int}", ("DELETE", "PATCH")))
    decision = table.resolve("put", split_path("/api/items/5"))
    assert decision.match is Match.PARTIAL
    assert decision.allowed == ("DELETE", "GET", "PATCH")


def test_table_404_when_no_path_matches() -> None:
    table = _table(("get", "items/{id:int}", ("GET",)))
    assert table.resolve("GET", split_path("/api/items/x")).match is Match.NONE
    assert table.resolve("GET", split_path("/other")).match is Match.NONE


def test_no_methods_means_any_method() -> None:
    table = _table(("any", "things", None))
    assert table.resolve("PATCH", split_path("/api/things")).match is Match.FULL


def test_split_path() -> None:
    assert split_path("/") == []
    assert split_path("/api/a%2Fb/c/") == ["api", "a/b", "c"]
    assert split_path("/api/x?y=1") == ["api", "x"]
