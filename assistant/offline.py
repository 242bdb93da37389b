"""The built-in offline model: a small rule-based stand-in used when no model is configured.

It understands the shipped skills well enough to demo a whole turn with no account: "add a
todo to buy milk" becomes an `AddTodo` call, "what are my todos?" a `GetTodos` call, "delete buy
milk" (or "complete buy milk") a `GetTodos` call and then `DeleteTodo` (`CompleteTodo`) on the todo
it names, and the tool results become a reply. Every reply starts with `[offline model]`.

Asked to fold a chat's summary (`CHAT_SUMMARY=on`), it keeps the summary so far and adds the user's
sentences that state facts ("my name is Ada", "I prefer tea", "remember ..."), dropping the oldest
lines beyond the token cap.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from assistant.memory import SUMMARY_MARKER
from assistant.messages import ToolCall
from assistant.payloads import CompletionResult
from assistant.state import Usage
from assistant.tokens import estimate_tokens

__all__ = ["MARK", "OfflineModel"]

MARK = "[offline model]"

_ADD_PATTERNS = (
    re.compile(r"\badd\s+(?P<task>.+?)\s+to\s+(?:my\s+|the\s+)?(?:todo|to-do|task)(?:\s*list|s)?\b", re.I),
    re.compile(
        r"\b(?:add|create|save|put|make)\s+(?:a\s+|an\s+|the\s+|new\s+|another\s+)*(?:todo|to-do|task|reminder)"
        r"(?:\s+item)?\s*(?::|-|to\s+|for\s+|that\s+says\s+|saying\s+)?\s*(?P<task>.+)",
        re.I,
    ),
    re.compile(r"\bremind\s+me\s+to\s+(?P<task>.+)", re.I),
)
_CHANGE_PATTERN = re.compile(
    r"\b(?P<verb>delete|remove|drop|complete|finish|check\s+off|mark)\s+(?:the\s+|my\s+)?(?:todo|to-do|task)?\s*"
    r"(?:called\s+|named\s+|about\s+|to\s+|for\s+)?(?P<task>.+?)(?:\s+as\s+done|\s+from\s+my\s+(?:todo\s+)?list)?[.!?]*$",
    re.I,
)
_LIST_PATTERN = re.compile(
    r"\b(?:what|which|list|show|get|read|tell)\b.*\b(?:todos?|to-dos?|tasks?|todo\s+list)\b", re.I
)


def _clean_task(text: str) -> str:
    return text.strip().strip(".!?\"'").strip()


def _call_id(messages: list[dict[str, Any]], name: str) -> str:
    """A call id derived from the conversation, so re-running the same request gives the same id."""
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode("utf-8") + name.encode()).hexdigest()
    return f"call_{digest[:24]}"


_FACT = re.compile(
    r"\b(?:my|mine|i am|i'm|i have|i've|i live|i work|i prefer|i like|call me|remember|always|never)\b", re.I
)


def _fold(messages: list[dict[str, Any]], max_tokens: int | None) -> str:
    """The offline model's summary: the summary so far, then the folded user sentences that state facts."""
    text = _text(messages[-1].get("content"))
    previous, _, transcript = text.partition("\n\nNew messages to fold in")
    previous = previous.removeprefix("Summary so far:\n").strip()
    lines = [] if previous == "(none yet)" else [line for line in previous.splitlines() if line.strip()]
    for line in transcript.splitlines()[1:]:
        if not line.startswith("[user] "):
            continue
        for sentence in re.split(r"(?<=[.!?])\s+", line.removeprefix("[user] ")):
            fact = "- " + sentence.strip()
            if _FACT.search(sentence) and fact not in lines:
                lines.append(fact)
    while len(lines) > 1 and estimate_tokens("\n".join(lines)) > (max_tokens or 800):
        lines.pop(0)
    return "\n".join(lines) or "- nothing the user said needs remembering yet"


_WHO = re.compile(r"^\s*who\s+is\s+(?P<name>.+?)\s*\??\s*$", re.I)


def _canned(prompt: str) -> str:
    """A one-shot completion (`ask`, `whois`) with no model: short, clearly canned, and about the prompt."""
    who = _WHO.match(prompt)
    if who:
        name = who.group("name")
        return (
            f"{MARK} {name} is someone a real model could tell you about; this canned answer knows no facts. "
            "Set OPENAI_BASE_URL or AZURE_OPENAI_ENDPOINT for one."
        )
    words = len(prompt.split())
    return (
        f"{MARK} A canned answer to your {words}-word prompt ({prompt[:60]!r}{'...' if len(prompt) > 60 else ''}): "
        "the offline model writes no text of its own. Set OPENAI_BASE_URL or AZURE_OPENAI_ENDPOINT for a real model."
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class OfflineModel:
    """A `ChatModel` that needs no network."""

    name = "offline"

    def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        max_tokens: int | None = None,
        on_delta: Callable[[str], None] | None = None,
    ) -> CompletionResult:
        """Answer like a chat-completions model would (streamed as one piece: it cannot stream)."""
        if messages and _text(messages[0].get("content")).startswith(SUMMARY_MARKER):
            return self._result(messages, _fold(messages, max_tokens))
        answer = self._answer(messages, tools)
        if on_delta is not None and answer.content:
            on_delta(answer.content)
        return answer

    def _answer(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> CompletionResult:
        offered = {t["function"]["name"] for t in tools or () if t.get("type") == "function"}
        last = messages[-1] if messages else {"role": "user", "content": ""}
        if last.get("role") == "tool":
            follow_up = self._change_after_listing(messages, offered)
            return follow_up or self._result(messages, self._summarize(messages))
        prompt = _text(last.get("content"))
        change = _CHANGE_PATTERN.search(prompt)
        wanted = (
            "DeleteTodo" if change and change.group("verb").lower() in ("delete", "remove", "drop") else "CompleteTodo"
        )
        if change and wanted in offered and "GetTodos" in offered and _clean_task(change.group("task")):
            # Which todo? Look them up first; the answer to GetTodos picks the id (see _change_after_listing).
            return self._result(messages, "", (ToolCall(_call_id(messages, "GetTodos"), "GetTodos", "{}"),))
        if "AddTodo" in offered:
            for pattern in _ADD_PATTERNS:
                match = pattern.search(prompt)
                if match and _clean_task(match.group("task")):
                    arguments = json.dumps({"taskDescription": _clean_task(match.group("task"))})
                    return self._result(messages, "", (ToolCall(_call_id(messages, "AddTodo"), "AddTodo", arguments),))
        if "GetTodos" in offered and _LIST_PATTERN.search(prompt):
            return self._result(messages, "", (ToolCall(_call_id(messages, "GetTodos"), "GetTodos", "{}"),))
        if offered:
            text = (
                f'{MARK} I can add todos ("add a todo to buy milk"), list them ("what are my todos?"), complete '
                f'("complete buy milk") and delete them ("delete buy milk", which you approve first). '
                f"For anything else, configure a model (OPENAI_BASE_URL or AZURE_OPENAI_ENDPOINT). You said: {prompt}"
            )
        else:
            text = _canned(prompt)
        return self._result(messages, text)

    def _change_after_listing(self, messages: list[dict[str, Any]], offered: set[str]) -> CompletionResult | None:
        """After GetTodos answered a "delete/complete X" request: the call on the todo that best matches X."""
        users = [m for m in messages if m.get("role") == "user"]
        change = _CHANGE_PATTERN.search(_text(users[-1].get("content"))) if users else None
        last = messages[-1]
        asking = next((m for m in reversed(messages) if m.get("role") == "assistant" and m.get("tool_calls")), {})
        names = {c["id"]: c["function"]["name"] for c in asking.get("tool_calls") or ()}
        if change is None or names.get(last.get("tool_call_id", "")) != "GetTodos":
            return None
        wanted = "DeleteTodo" if change.group("verb").lower() in ("delete", "remove", "drop") else "CompleteTodo"
        try:
            todos = json.loads(_text(last.get("content")))
        except json.JSONDecodeError:
            return None
        target = _clean_task(change.group("task")).lower()
        matches = [t for t in todos if isinstance(t, dict) and target in str(t.get("taskDescription", "")).lower()]
        if wanted not in offered or not matches:
            return self._result(messages, f"{MARK} I found no todo matching {target!r}.")
        arguments = json.dumps({"todoId": str(matches[0]["id"])})
        return self._result(messages, "", (ToolCall(_call_id(messages, wanted), wanted, arguments),))

    def _summarize(self, messages: list[dict[str, Any]]) -> str:
        """Turn the trailing tool results into a reply."""
        results: list[dict[str, Any]] = []
        for message in reversed(messages):
            if message.get("role") != "tool":
                break
            results.append(message)
        results.reverse()
        asking = messages[-len(results) - 1] if len(messages) > len(results) else {}
        names = {c["id"]: c["function"]["name"] for c in asking.get("tool_calls") or ()}
        parts: list[str] = []
        for result in results:
            name = names.get(result.get("tool_call_id", ""), "")
            parts.append(self._describe(name, _text(result.get("content"))))
        return f"{MARK} " + " ".join(parts)

    @staticmethod
    def _describe(name: str, content: str) -> str:
        if content.startswith("error"):
            return f"That did not work: {content}"
        try:
            data = json.loads(content)
        except json.JSONDecodeError:
            data = content
        if name == "AddTodo" and isinstance(data, dict) and "taskDescription" in data:
            return f'Added "{data["taskDescription"]}" to your todo list.'
        if name == "DeleteTodo" and isinstance(data, dict) and data.get("deleted"):
            return f'Deleted "{data.get("taskDescription")}".'
        if name == "CompleteTodo" and isinstance(data, dict) and data.get("completed"):
            return f'Marked "{data.get("taskDescription")}" as done.'
        if name == "GetTodos" and isinstance(data, list):
            if not data:
                return "You have no todos."
            tasks = [str(item.get("taskDescription", item)) if isinstance(item, dict) else str(item) for item in data]
            return f"You have {len(tasks)} todo(s): " + "; ".join(f"{i}. {t}" for i, t in enumerate(tasks, 1)) + "."
        return f"{name or 'The tool'} answered: {content}"

    def _result(
        self, messages: list[dict[str, Any]], content: str, calls: tuple[ToolCall, ...] = ()
    ) -> CompletionResult:
        prompt = sum(estimate_tokens(json.dumps(m)) for m in messages)
        completion = estimate_tokens(content) + sum(estimate_tokens(c.arguments) for c in calls)
        return CompletionResult(
            content=content, tool_calls=calls, usage=Usage(prompt, completion, prompt + completion), model=self.name
        )
