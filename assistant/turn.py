"""One chat turn as explicit steps, free of any host: the orchestrator drives it, activities act.

user message → model request → (tool calls → tool results → model request)* → final text.
`TurnRun` holds the whole run state; each step returns a new one, so the orchestrator's replay
rebuilds it exactly from the same task results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from assistant.events import EventDraft, tool_completed, tool_started
from assistant.ids import kept_hash
from assistant.messages import ChatMessage, ToolCall, format_utc, parse_utc
from assistant.payloads import (
    CompletionRequest,
    CompletionResult,
    EventTarget,
    ToolInvocation,
    ToolResult,
    TurnInput,
    TurnOutput,
)
from assistant.state import TurnRecord, Usage

__all__ = ["ROUND_LIMIT_REPLY", "ToolPlan", "TurnRun", "next_stamp", "unique_call_ids"]

ROUND_LIMIT_REPLY = "I could not finish this request within the allowed number of tool calls."


def unique_call_ids(calls: Sequence[ToolCall]) -> tuple[ToolCall, ...]:
    """`calls` with every id unique within the answer: a repeated id gets `~2`, `~3`... (and an empty one `call~n`),
    so each call has a result of its own and the model sees which result answers which call."""
    seen: set[str] = set()
    unique: list[ToolCall] = []
    for call in calls:
        base = call.id or "call"
        candidate, n = base, 1
        while candidate in seen or not candidate:
            n += 1
            candidate = f"{base}~{n}"
        seen.add(candidate)
        unique.append(call if candidate == call.id else replace(call, id=candidate))
    return tuple(unique)


def next_stamp(messages: Sequence[ChatMessage], now: datetime) -> str:
    """`now`, or just after the newest of `messages` if that is not earlier: stamps strictly increase."""
    if messages and messages[-1].created_at:
        floor = parse_utc(messages[-1].created_at) + timedelta(microseconds=1)
        if now < floor:
            now = floor
    return format_utc(now)


@dataclass(frozen=True)
class ToolPlan:
    """What to do with one model answer's tool calls."""

    to_run: tuple[ToolCall, ...]
    """Calls of known skills, to run as activities (in parallel)."""
    rejected: tuple[ToolResult, ...]
    """Results given to the model without running anything (unknown tool names)."""


@dataclass(frozen=True)
class TurnRun:
    """The state of one turn while it runs."""

    chat_id: str
    turn_id: str
    history: Sequence[ChatMessage]
    """The chat's stored messages before this turn (system message first; a `StoredMessages` from the entity)."""
    new_messages: tuple[ChatMessage, ...]
    """This turn's messages so far, the user's first."""
    max_tool_rounds: int
    rounds: int = 0
    """Model answers with tool calls so far."""
    usage: Usage = Usage()
    reply: str | None = None
    """The final text once the turn is done."""
    run_key: str = ""
    """Unique to this run of the turn (the orchestrator's deterministic `new_uuid`): part of every tool call's
    idempotency key."""
    max_tool_calls: int = 16
    """Calls of one answer that run; the rest are answered with an error result."""
    events: bool = False
    """Whether the turn publishes its events (the log's sequence numbers are tracked here, deterministically)."""
    next_event: int = 1
    """The sequence number the turn's next event takes."""
    preface: tuple[EventDraft, ...] = ()
    """Events decided here that the next model call writes first (turn start, calls that did not run)."""
    tools: tuple[str, ...] | None = None
    """The skills offered to the model (the chat's); None: every registered one."""
    traceparent: str | None = None
    """The turn's trace context, handed to every activity."""
    queued_seconds: float | None = None
    """How long the turn waited in the queue: sent with the first model call, then dropped."""
    fold_base: int = 0
    """Sequence number of the last message before the history's uncovered ones (what the summary or archive holds)."""
    uncovered: int = 0
    """How many of `history`'s messages (its last ones) are chat messages the summary does not cover."""
    fold_check: bool = False
    """Ask each model call how many of the oldest messages to fold into the summary (summaries on)."""
    fold_count: int = 0
    """The last model call's answer to that (of the request's non-system messages, oldest first)."""
    generation: str = ""
    """The chat's generation the turn runs on (`ChatState.generation`): its skills and its append carry it."""
    request_hash: str = ""
    """What the chat keeps of the turn's request hash (`assistant.ids.kept_hash`), appended with the turn."""

    def with_memory(self, fold_base: int, uncovered: int) -> TurnRun:
        """The run folding into the chat's summary: `history` ends with `uncovered` messages numbered from `fold_base +
        1`."""
        return replace(self, fold_check=True, fold_base=fold_base, uncovered=uncovered)

    @property
    def fold_upto(self) -> int:
        """Sequence number of the last message to fold after this turn (only the chat's earlier turns), 0: none."""
        folded = min(self.fold_count, self.uncovered)
        return self.fold_base + folded if folded else 0

    def traced(self, traceparent: str | None, queued_seconds: float | None) -> TurnRun:
        """The run's activities joining trace `traceparent`; the first model call reports the queue wait."""
        return replace(self, traceparent=traceparent, queued_seconds=queued_seconds)

    def with_tools(self, tools: Sequence[str] | None) -> TurnRun:
        """The run offering only `tools` (None: every registered skill)."""
        return replace(self, tools=tuple(tools) if tools is not None else None)

    def on_generation(self, generation: str) -> TurnRun:
        """The run fenced to the chat's `generation`: its effects count only while the chat is that one."""
        return replace(self, generation=generation)

    def with_events(self, next_event: int, preface: Sequence[EventDraft]) -> TurnRun:
        """The run publishing its events from sequence number `next_event`, `preface` first."""
        return replace(self, events=True, next_event=next_event, preface=tuple(preface))

    @classmethod
    def begin(
        cls, turn: TurnInput, turn_id: str, history: Sequence[ChatMessage], now: datetime, run_key: str = ""
    ) -> TurnRun:
        """Step 1: the user's message joins the conversation."""
        user = ChatMessage(role="user", content=turn.message, created_at=next_stamp(history, now), turn_id=turn_id)
        return cls(
            chat_id=turn.chat_id,
            turn_id=turn_id,
            history=history,
            new_messages=(user,),
            max_tool_rounds=turn.max_tool_rounds,
            run_key=run_key,
            max_tool_calls=turn.max_tool_calls,
            request_hash=kept_hash(turn_id, turn.request_hash),
        )

    @classmethod
    def resume(
        cls, turn: TurnInput, turn_id: str, history: Sequence[ChatMessage], partial: Sequence[ChatMessage], run_key: str
    ) -> TurnRun:
        """Step 1 of a turn run again after it failed with tools already run: it goes on from what the chat recorded
        (`partial`: its user message, tool calls and their results), so those calls are not run again."""
        rounds = sum(1 for m in partial if m.role == "assistant" and m.tool_calls)
        return cls(
            chat_id=turn.chat_id,
            turn_id=turn_id,
            history=history,
            new_messages=tuple(partial),
            max_tool_rounds=turn.max_tool_rounds,
            rounds=rounds,
            run_key=run_key,
            max_tool_calls=turn.max_tool_calls,
            request_hash=kept_hash(turn_id, turn.request_hash),
        )

    @property
    def tools_ran(self) -> bool:
        """Whether any tool call of this turn has a recorded result (so the chat must record what ran)."""
        return any(m.role == "tool" for m in self.new_messages)

    def invocation(self, call: ToolCall, index: int, events: EventTarget | None = None) -> ToolInvocation:
        """The activity input of the answer's call number `index`, with its idempotency key (turn, run, round,
        index)."""
        key = f"{self.turn_id}/{self.run_key}/{self.rounds}/{index}"
        return ToolInvocation(
            chat_id=self.chat_id,
            call=call,
            idempotency_key=key,
            events=events,
            traceparent=self.traceparent,
            generation=self.generation,
        )

    @property
    def done(self) -> bool:
        """Whether the model has given its final text."""
        return self.reply is not None

    def model_request(self) -> CompletionRequest:
        """Step 2: what to ask the model; tools are withdrawn once the round limit is reached."""
        events = EventTarget(self.turn_id, self.chat_id, self.next_event, self.preface) if self.events else None
        return CompletionRequest(
            messages=self.history + self.new_messages,
            allow_tools=self.rounds < self.max_tool_rounds,
            events=events,
            tools=self.tools,
            traceparent=self.traceparent,
            queued_seconds=self.queued_seconds,
            fold_check=self.fold_check,
        )

    def on_answer(
        self, answer: CompletionResult, now: datetime, known_tools: frozenset[str]
    ) -> tuple[TurnRun, ToolPlan]:
        """Step 3: take the model's answer; either the turn ends or tool calls are planned."""
        usage = self.usage + answer.usage
        stamp = next_stamp(self.new_messages, now)
        run = replace(self, queued_seconds=None, fold_count=answer.fold_count)  # the queue wait is reported once
        base = answer.last_sequence + 1 if answer.last_sequence else run.next_event
        if not answer.tool_calls or run.rounds >= run.max_tool_rounds:
            text = answer.content if not answer.tool_calls else (answer.content.strip() or ROUND_LIMIT_REPLY)
            final = ChatMessage(
                role="assistant", content=text, created_at=stamp, turn_id=run.turn_id, truncated=answer.truncated
            )
            done = replace(
                run, new_messages=run.new_messages + (final,), usage=usage, reply=text, next_event=base, preface=()
            )
            return done, ToolPlan(to_run=(), rejected=())
        calls = unique_call_ids(answer.tool_calls)
        cap = run.max_tool_calls
        dropped = max(len(calls) - cap - 1, 0)
        calls = calls[: cap + 1]  # what is kept of an answer with too many calls: the first `cap`, and one to say so
        asking = ChatMessage(
            role="assistant",
            content=answer.content,
            created_at=stamp,
            tool_calls=calls,
            turn_id=run.turn_id,
            truncated=answer.truncated,
        )
        to_run: list[ToolCall] = []
        rejected: list[ToolResult] = []
        for position, call in enumerate(calls):
            if position >= cap:
                why = (
                    f"too many tool calls in one answer: the first {cap} ran, this one and the {dropped} after it "
                    "did not (and are left out of the conversation); ask for them again"
                )
            elif call.name not in known_tools:
                why = f"there is no tool named {call.name!r}; available tools: {', '.join(sorted(known_tools))}"
            else:
                to_run.append(call)
                continue
            rejected.append(ToolResult(tool_call_id=call.id, name=call.name, content=f"error: {why}", ok=False))
        preface: tuple[EventDraft, ...] = ()
        if run.events:
            arguments = {c.id: c.arguments for c in calls}
            for result in rejected:
                preface += (
                    tool_started(result.tool_call_id, result.name, arguments[result.tool_call_id]),
                    tool_completed(result.tool_call_id, result.name, result.ok, result.content),
                )
        running = replace(
            run,
            new_messages=run.new_messages + (asking,),
            usage=usage,
            rounds=run.rounds + 1,
            next_event=base,
            preface=preface,
        )
        return running, ToolPlan(to_run=tuple(to_run), rejected=tuple(rejected))

    def tool_targets(self, calls: Sequence[ToolCall]) -> tuple[TurnRun, dict[str, EventTarget]]:
        """Sequence numbers for the calls' `tool_call.started` (first n) and `tool_call.completed` (next n)."""
        if not self.events or not calls:
            return self, {}
        base, n = self.next_event, len(calls)
        targets = {
            c.id: EventTarget(self.turn_id, self.chat_id, base + i, end=base + n + i) for i, c in enumerate(calls)
        }
        return replace(self, next_event=base + 2 * n), targets

    def reserve(self, count: int) -> tuple[TurnRun, EventTarget | None]:
        """`count` sequence numbers for events the orchestrator publishes itself (None when it publishes none)."""
        if not self.events or count <= 0:
            return self, None
        return replace(self, next_event=self.next_event + count), EventTarget(
            self.turn_id, self.chat_id, self.next_event
        )

    def on_tool_results(self, results: list[ToolResult], now: datetime) -> TurnRun:
        """Step 4: the results join the conversation, in the order the model asked for the calls."""
        asking = self.new_messages[-1]
        by_id = {r.tool_call_id: r for r in results}
        messages = self.new_messages
        for call in asking.tool_calls:
            answer = ChatMessage(
                role="tool",
                content=by_id[call.id].content if call.id in by_id else "error: the tool produced no result",
                created_at=next_stamp(messages, now),
                tool_call_id=call.id,
                name=call.name,
                turn_id=self.turn_id,
            )
            messages = messages + (answer,)
        return replace(self, new_messages=messages)

    def record(self) -> TurnRecord:
        """Step 5: what the chat entity appends."""
        return TurnRecord(
            turn_id=self.turn_id,
            messages=self.new_messages,
            usage=self.usage,
            generation=self.generation,
            request_hash=self.request_hash,
        )

    def partial_record(self) -> TurnRecord:
        """What the chat records of a turn that failed after tools ran: every complete round so far, marked incomplete
        (a last answer whose calls have no results yet is left out: what those calls did is not known)."""
        messages = self.new_messages
        if messages and messages[-1].role == "assistant" and messages[-1].tool_calls:
            messages = messages[:-1]
        return TurnRecord(
            turn_id=self.turn_id, messages=messages, usage=self.usage, incomplete=True, generation=self.generation
        )

    def output(self) -> TurnOutput:
        """The orchestration's output."""
        return TurnOutput(
            chat_id=self.chat_id,
            found=True,
            reply=self.reply or "",
            recent_messages=self.new_messages,
            usage=self.usage,
        )
