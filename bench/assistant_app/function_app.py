"""Bench-only app: the product's function app, unchanged, plus one `Sleep` skill.

`Sleep` is registered through the product's own skill registry (so the model is offered it as a
tool, the registry validates its arguments and the skills blueprint turns it into an activity,
exactly like `AddTodo`), which lets the benchmark and the parallel-tools test ask the scripted
model for tool calls of a known latency. It records when it started and ended, so a caller can
see from the tool results alone whether calls of one answer overlapped.

The registration must happen before the product's `function_app.py` is imported: the skills
blueprint is built from the registry when `skills.blueprint` is first imported.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import azure.durable_functions as df

from skills.registry import SkillContext, registry

SLEEP_SKILL = "Sleep"
PRODUCT_ROOT = Path(__file__).resolve().parents[2]
"""The repository root, whose `function_app.py` is the product."""


@registry.skill(
    name=SLEEP_SKILL,
    description="Wait the given number of milliseconds (a benchmark tool of known latency).",
    parameters={
        "type": "object",
        "properties": {"milliseconds": {"type": "integer", "minimum": 0, "maximum": 10000}},
        "required": ["milliseconds"],
        "additionalProperties": False,
    },
)
def sleep(context: SkillContext, milliseconds: int) -> dict[str, float | str]:
    """Sleep `milliseconds`; the wall-clock start and end (epoch seconds) and the call id."""
    started = time.time()
    time.sleep(milliseconds / 1000)
    return {"toolCallId": context.tool_call_id, "startedAt": started, "endedAt": time.time()}


def _load_product() -> ModuleType:
    """Import the repository's `function_app.py` under another module name (this module holds `function_app`)."""
    spec = importlib.util.spec_from_file_location("product_function_app", PRODUCT_ROOT / "function_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


app: df.DFApp = _load_product().app
