"""The app's durable functions by the names they answer to: orchestrators, activities, entities.

A durable function answers to its function name and to the name in its trigger binding (`orchestration`,
`activity`, `entityName`), case-insensitively, as the extension looks them up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from devhost.loader import FunctionIndex, FunctionSpec

__all__ = ["DurableFunctions", "functions_by_name"]

_NAME_KEYS = {"orchestrationtrigger": "orchestration", "activitytrigger": "activity", "entitytrigger": "entityName"}
"""The trigger binding's own name for the function, per durable trigger type."""


def functions_by_name(index: FunctionIndex, trigger_type: str) -> dict[str, FunctionSpec]:
    """The app's functions of one durable trigger type by every name they answer to (lower case):
    the function name and the name in the trigger binding."""
    key = _NAME_KEYS[trigger_type.lower()]
    found: dict[str, FunctionSpec] = {}
    for spec in index.by_trigger(trigger_type):
        for name in (spec.name, str(spec.trigger.get(key) or spec.name)):
            found[name.lower()] = spec
    return found


@dataclass
class DurableFunctions:
    """The orchestrator, activity and entity functions of one app."""

    orchestrators: dict[str, FunctionSpec] = field(default_factory=dict)
    activities: dict[str, FunctionSpec] = field(default_factory=dict)
    entities: dict[str, FunctionSpec] = field(default_factory=dict)

    def register(self, index: FunctionIndex) -> None:
        """Index the app's durable functions."""
        self.orchestrators.update(functions_by_name(index, "orchestrationTrigger"))
        self.activities.update(functions_by_name(index, "activityTrigger"))
        self.entities.update(functions_by_name(index, "entityTrigger"))

    def orchestrator(self, name: str) -> Callable[[str], str] | None:
        """The orchestrator's handler (None: the app has no such orchestrator)."""
        spec = self.orchestrators.get(name.lower())
        return spec.func if spec is not None else None

    def orchestrator_name(self, name: str) -> str | None:
        """The orchestrator's function name as the app spells it, or None."""
        spec = self.orchestrators.get(name.lower())
        return spec.name if spec is not None else None

    def entity_handler(self, name: str) -> Callable[[str], str] | None:
        """The entity's handler (None: the app has no such entity)."""
        spec = self.entities.get(name.lower())
        return spec.func if spec is not None else None

    def has_entity(self, name: str) -> bool:
        return name.lower() in self.entities
