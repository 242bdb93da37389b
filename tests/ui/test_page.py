"""The chat page in real Chromium against devhost + Azurite + the scripted model streaming slowly."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from tests.assistant.conftest import AssistantHost
from tests.support.fake_openai import FakeOpenAI, ScriptedReply, tool_call
from tests.ui.conftest import SCREENSHOTS

pytestmark = pytest.mark.slow

WORDS = "Here is what I did for you today, step by step, without skipping a single thing."


def open_page(browser: Any, host: AssistantHost, width: int = 1280) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
    page.goto(f"{host.devhost.base_url}/api/ui")
    return page


def new_chat(page: Any, name: str | None = None) -> str:
    chat = name or f"ui-{uuid.uuid4().hex[:8]}"
    if not page.is_visible("#new-chat-id"):
        page.click("#toggle-chats")
    page.fill("#new-chat-id", chat)
    page.fill("#new-chat-instructions", "You keep my todo list.")
    page.click("#new-chat button[type=submit]")
    page.wait_for_selector("#message:not([disabled])")
    return chat


def say(page: Any, text: str) -> None:
    page.fill("#message", text)
    page.keyboard.press("Enter")


def last_reply(page: Any) -> str:
    return str(page.locator(".msg.assistant:not(.thinking) .body").last.inner_text())


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_a_reply_streams_in_with_its_tool_card_and_the_todo_panel(
    browser: Any, page_host: AssistantHost, model: FakeOpenAI
) -> None:
    """Ask to add a todo: part of the reply is visible before the turn ends; the AddTodo card; the todo in the panel."""
    model.call_tools(tool_call("AddTodo", {"taskDescription": "buy milk"}))
    model.script(ScriptedReply(content=WORDS, token_delay=0.12))
    page = open_page(browser, page_host)
    new_chat(page)
    say(page, "add a todo to buy milk")
    page.wait_for_selector(".tool .tool-name >> text=AddTodo")
    page.wait_for_function(
        "() => { const b = [...document.querySelectorAll('.msg.assistant:not(.thinking) .body')].pop();"
        " return b && b.innerText.trim().length > 0; }"
    )
    partial = last_reply(page)
    assert partial and partial != WORDS and WORDS.startswith(partial.strip()), partial
    shot(page, "streaming")
    page.wait_for_function(f"() => document.body.innerText.includes({json.dumps(WORDS)})")
    assert last_reply(page) == WORDS
    assert page.locator(".tool.ok .tool-status").first.inner_text() == "ok"
    page.wait_for_selector("#todo-list li >> text=buy milk")
    assert page.errors == []


def test_approve_one_delete_and_deny_another(browser: Any, page_host: AssistantHost, model: FakeOpenAI) -> None:
    """The approval prompt appears (also after a reload); approved, the todo leaves the panel; denied, the reply says
    so."""

    def respond(body: dict[str, Any]) -> ScriptedReply:
        last = body["messages"][-1]
        user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        if last["role"] == "tool":
            return ScriptedReply(content="It was declined." if "declined" in last["content"] else "Done.")
        if user.startswith("add "):
            return ScriptedReply(tool_calls=(tool_call("AddTodo", {"taskDescription": user[4:]}),))
        todos = [m for m in body["messages"] if m["role"] == "tool"]
        ids = [json.loads(m["content"]).get("id") for m in todos if "added" in m["content"]]
        target = ids[0] if user == "delete the first" else ids[-1]
        return ScriptedReply(tool_calls=(tool_call("DeleteTodo", {"todoId": target}),))

    model.responder = respond
    page = open_page(browser, page_host)
    chat = new_chat(page)
    say(page, "add first task")
    page.wait_for_selector("#todo-list li >> text=first task")
    say(page, "add second task")
    page.wait_for_selector("#todo-list li >> text=second task")
    say(page, "delete the first")
    page.wait_for_selector(".approval .approve")
    page.reload()
    page.wait_for_selector(".approval .approve")  # the pending call is shown again after a reload
    shot(page, "approval")
    page.click(".approval .approve")
    page.wait_for_function("() => !document.querySelector('#todo-list').innerText.includes('first task')")
    assert "second task" in page.inner_text("#todo-list")
    say(page, "delete the second")
    page.wait_for_selector(".approval .deny")
    page.fill(".approval input[name=reason]", "keep it")
    page.click(".approval .deny")
    page.wait_for_selector(".msg.assistant .body >> text=It was declined.")
    assert "second task" in page.inner_text("#todo-list")
    assert chat in page.inner_text("#chat-list") and page.errors == []


def test_model_text_never_becomes_html(browser: Any, page_host: AssistantHost, model: FakeOpenAI) -> None:
    """An <img onerror> and a <script> in a reply show as text: no element is created and no dialog opens."""
    dialogs: list[str] = []
    hostile = "Look: <img src=x onerror=alert(1)> and <script>alert(2)</script> **bold** `code`"
    model.reply(hostile)
    page = open_page(browser, page_host)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    new_chat(page)
    say(page, "be hostile")
    page.wait_for_selector(".msg.assistant .body >> text=alert(2)")
    time.sleep(0.3)
    assert page.locator("#messages img").count() == 0 and page.locator("#messages script").count() == 0
    assert dialogs == []
    body = page.locator(".msg.assistant:not(.thinking) .body").last
    assert "<img src=x onerror=alert(1)>" in body.inner_text() and body.locator("strong").inner_text() == "bold"


def test_the_page_resumes_after_devhost_restarts_mid_stream(
    browser: Any, page_host: AssistantHost, model: FakeOpenAI
) -> None:
    """devhost killed while the reply streams and started again: the page reconnects, the text ends whole, no word
    twice."""
    long_text = " ".join(f"word{i}" for i in range(40))
    model.script(ScriptedReply(content=long_text, token_delay=0.08), ScriptedReply(content=long_text))
    page = open_page(browser, page_host)
    new_chat(page)
    say(page, "tell me forty words")
    page.wait_for_function("() => document.body.innerText.includes('word3')")
    page_host.devhost.kill()
    page_host.devhost.start()
    page.wait_for_function("() => document.body.innerText.includes('word39')", timeout=30000)
    time.sleep(0.5)
    text = last_reply(page)
    assert text == long_text, text
    assert page.errors == []


def test_a_slow_turn_can_be_cancelled(browser: Any, page_host: AssistantHost, model: FakeOpenAI) -> None:
    """Cancel while the model thinks: the page says cancelled and the composer is back."""
    model.script(ScriptedReply(content="too late", delay=3.0))
    page = open_page(browser, page_host)
    new_chat(page)
    say(page, "take your time")
    page.wait_for_selector("#cancel:not([hidden])")
    page.click("#cancel")
    page.wait_for_selector(".msg.cancelled")
    page.wait_for_selector("#message:not([disabled])")
    assert "too late" not in page.inner_text("#messages")


def test_narrow_screen_and_keyboard(browser: Any, page_host: AssistantHost, model: FakeOpenAI) -> None:
    """At 375 px nothing scrolls sideways; Tab reaches every control of the page."""
    model.reply("A reply with a long word: " + "x" * 120)
    page = open_page(browser, page_host, width=375)
    new_chat(page)
    say(page, "hello")
    page.wait_for_selector(".msg.assistant .body >> text=A reply")
    page.click("#toggle-todos")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, overflow
    shot(page, "narrow")
    page.click("#toggle-todos")
    page.evaluate("() => document.activeElement.blur()")
    reached: set[str] = set()
    for _ in range(60):
        page.keyboard.press("Tab")
        reached.add(
            page.evaluate(
                "() => document.activeElement.id"
                " || document.activeElement.tagName + '.' + document.activeElement.className"
            )
        )
    for control in (
        "toggle-chats",
        "toggle-todos",
        "new-chat-id",
        "new-chat-instructions",
        "reset-chat",
        "delete-chat",
        "message",
        "send",
    ):
        assert control in reached, (control, sorted(reached))
