"""The skill registry: typed functions registered with a name, a description and a JSON schema.

One registration gives the model a tool definition and gives the app an activity (see
`skills/blueprint.py`). Arguments are parsed and validated against the schema here, before the
skill runs; every failure becomes an error result the model can explain, never a crashed turn:
bad arguments ("fix them and retry"), `SkillError` ("this failed"), anything else (a bug: logged
with its traceback, the model only learns that the tool failed).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from assistant.payloads import ToolInvocation, ToolResult

__all__ = ["Skill", "SkillContext", "SkillError", "SkillRegistry", "registry"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
F = TypeVar("F", bound=Callable[..., Any])


class SkillError(Exception):
    """Raised by a skill for an expected failure; its message is given to the model."""


@dataclass(frozen=True)
class SkillContext:
    """What a skill knows about the call besides its arguments."""

    chat_id: str
    """The chat the call belongs to (skills keep per-chat data apart with it)."""
    tool_call_id: str
    """The model's id for this call (a model may reuse ids across turns: never an idempotency key on its own)."""
    idempotency_key: str = ""
    """Unique to this call of this run of the turn, and the same when the activity runs again after a crash:
    a skill with an effect must make it happen once per key (e.g. as a row key, or a store's idempotency header)."""
    generation: str = ""
    """The chat's generation the turn runs on: a skill that writes checks, after writing, that the chat is still
    that one (`storage.fences.fence_holds`) and undoes its write otherwise (the chat was reset meanwhile)."""


Approval = bool | Callable[[dict[str, Any]], bool]
"""A skill's approval policy: False (never, the default), True (always), or a function of the arguments."""


@dataclass(frozen=True)
class Skill:
    """One registered skill."""

    name: str
    """The tool and activity name the model calls (`FunctionName`)."""
    description: str
    """What the tool does, for the model (`FunctionDescription`)."""
    parameters: dict[str, Any]
    """JSON schema of the arguments object (`ParameterDescriptionJson`)."""
    func: Callable[..., Any]
    """Called as `func(context, **arguments)`."""
    approval: Approval = False
    """Whether a person must approve a call before it runs."""

    @property
    def approval_policy(self) -> str:
        """`never`, `always` or `conditional` (a function of the arguments decides)."""
        if callable(self.approval):
            return "conditional"
        return "always" if self.approval else "never"

    def needs_approval(self, arguments_text: str) -> bool:
        """Whether this call (its arguments as the model wrote them) waits for a person. Arguments that are not a
        JSON object never wait: they fail validation without running."""
        if not callable(self.approval):
            return bool(self.approval)
        try:
            arguments = json.loads(arguments_text) if arguments_text.strip() else {}
        except json.JSONDecodeError:
            return False
        return isinstance(arguments, dict) and bool(self.approval(arguments))

    def describe(self) -> dict[str, Any]:
        """The public description (`GET /api/skills`)."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "approval": self.approval_policy,
        }

    def tool_definition(self) -> dict[str, Any]:
        """The chat-completions `tools` entry."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


class SkillRegistry:
    """Skills by name, plus the hooks that forget a deleted chat's data."""

    def __init__(self) -> None:
        self._skills: dict[str, Skill] = {}
        self._validators: dict[str, Draft202012Validator] = {}
        self._forget_hooks: list[Callable[[str], None]] = []

    def skill(
        self, name: str, description: str, parameters: dict[str, Any] | None = None, approval: Approval = False
    ) -> Callable[[F], F]:
        """Decorator: register `func(context: SkillContext, **arguments)` as the skill `name` (`approval`: see
        `Skill`)."""
        schema = parameters if parameters is not None else {"type": "object", "properties": {}}
        if not _NAME.match(name):
            raise ValueError(f"skill name {name!r} must be 1-64 letters, digits, '_' or '-'")
        if name in self._skills:
            raise ValueError(f"skill {name!r} is already registered")
        if schema.get("type") != "object":
            raise ValueError(f"skill {name!r}: the parameters schema must describe an object")
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as error:
            raise ValueError(f"skill {name!r}: invalid parameters schema: {error.message}") from error

        def register(func: F) -> F:
            self._skills[name] = Skill(
                name=name, description=description, parameters=schema, func=func, approval=approval
            )
            self._validators[name] = Draft202012Validator(schema)
            return func

        return register

    def on_forget_chat(self, hook: Callable[[str], None]) -> Callable[[str], None]:
        """Decorator: `hook(chat_id)` deletes a skill store's data of a deleted chat."""
        self._forget_hooks.append(hook)
        return hook

    def get(self, name: str) -> Skill | None:
        """The skill called `name`, if registered."""
        return self._skills.get(name)

    def names(self) -> frozenset[str]:
        """Every registered skill name."""
        return frozenset(self._skills)

    def skills(self) -> list[Skill]:
        """Every registered skill, in registration order."""
        return list(self._skills.values())

    def tool_definitions(self, only: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The `tools` list offered to the model (only the skills named in `only`, when given)."""
        wanted = None if only is None else set(only)
        return [s.tool_definition() for s in self._skills.values() if wanted is None or s.name in wanted]

    def needs_approval(self, name: str, arguments: str) -> bool:
        """Whether a call of skill `name` with these arguments waits for a person."""
        skill = self._skills.get(name)
        return skill is not None and skill.needs_approval(arguments)

    def invoke(self, invocation: ToolInvocation) -> ToolResult:
        """Validate the call's arguments and run the skill; failures become error results."""
        call = invocation.call
        skill = self._skills.get(call.name)

        def failed(message: str) -> ToolResult:
            return ToolResult(tool_call_id=call.id, name=call.name, content=f"error: {message}", ok=False)

        if skill is None:
            return failed(f"there is no tool named {call.name!r}")
        try:
            arguments = json.loads(call.arguments) if call.arguments.strip() else {}
        except json.JSONDecodeError as error:
            return failed(f"the arguments are not valid JSON ({error.msg}); send a JSON object")
        errors = sorted(self._validators[skill.name].iter_errors(arguments), key=lambda e: list(e.path))
        if errors:
            where = "/".join(str(p) for p in errors[0].path) or "arguments"
            return failed(f"invalid arguments for {skill.name} at {where}: {errors[0].message}")
        context = SkillContext(
            chat_id=invocation.chat_id,
            tool_call_id=call.id,
            idempotency_key=invocation.key,
            generation=invocation.generation,
        )
        try:
            value = skill.func(context, **arguments)
        except SkillError as error:
            return failed(str(error))
        except Exception:
            log.exception("skill %s failed on call %s of chat %s", skill.name, call.id, invocation.chat_id)
            return failed(f"{skill.name} failed unexpectedly")
        content = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        return ToolResult(tool_call_id=call.id, name=call.name, content=content)

    def forget_chat(self, chat_id: str) -> None:
        """Delete every skill store's data of `chat_id`."""
        for hook in self._forget_hooks:
            hook(chat_id)


registry = SkillRegistry()
"""The app's registry; `skills.todos` registers the shipped skills into it."""
