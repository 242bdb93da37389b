"""The OpenAPI document is generated from the code: the committed file is what `make openapi` writes, and every
HTTP route's every method is declared (no more, no less)."""

from __future__ import annotations

import re

from api import openapi_document, spec
from tests.support.devhost import REPO_ROOT


def test_the_committed_document_is_what_make_openapi_writes() -> None:
    """`openapi.json` at the root is `python -m api.spec` (run `make openapi` after changing a route or model)."""
    committed = (REPO_ROOT / "openapi.json").read_text(encoding="utf-8")
    assert committed == openapi_document.render(), "openapi.json is stale: run `make openapi`"


def test_every_route_and_method_is_declared_and_nothing_else() -> None:
    """The route table of the app and the declarations name the same (path, method) pairs, and every path parameter
    of a route is declared."""
    openapi_document.document()
    routes = {(path, method) for path, methods in openapi_document.routes().values() for method in methods}
    declared = {(op.path, op.method) for op in spec.OPERATIONS}
    assert routes - declared == set(), "undeclared routes"
    assert declared - routes == set(), "declarations of routes that do not exist"
    for path, _ in routes:
        assert set(re.findall(r"\{([A-Za-z]+)\}", path)) <= set(spec.PATH_PARAMS), path


def test_every_operation_declares_its_errors_and_has_an_id() -> None:
    """Each operation has a unique id, a summary, a success answer, and 400 wherever it reads input."""
    ids = [op.operation_id for op in spec.OPERATIONS]
    assert len(ids) == len(set(ids))
    for op in spec.OPERATIONS:
        assert op.summary and any(200 <= code < 400 for code in op.replies), op.operation_id
        reads_input = op.body is not None or op.params or "{chatId}" in op.path
        assert not reads_input or 400 in op.replies, op.operation_id
        if op.body is not None:
            assert 413 in op.replies, f"{op.operation_id} takes a body: a 413 when it is too large"


def test_the_status_recorder_catches_an_undeclared_status() -> None:
    """What a route answers is matched to its document path; a status it does not declare is reported (the run's end
    fails on it, tests/conftest.py), the host's own answers are not."""
    from tests.support import statuses

    before = statuses.recorded()
    statuses._record("GET", "http://127.0.0.1:1/api/chats/some-chat/turns/t1/events", 418)
    statuses._record("GET", "http://127.0.0.1:1/api/chats/some-chat/turns/t1/events", 401)
    statuses._record("GET", "http://127.0.0.1:1/api/chats/some-chat", 200)
    try:
        assert ("GET", "/chats/{chatId}/turns/{turnId}/events", 418) in statuses.undeclared()
        assert ("GET", "/chats/{chatId}/turns/{turnId}/events", 401) not in statuses.undeclared()
        assert ("GET", "/chats/{chatId}", 200) not in statuses.undeclared()
    finally:
        with statuses._lock:
            statuses._seen.clear()
            statuses._seen.update(before)
