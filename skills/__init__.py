"""The skills the assistant offers the model as tools: the registry (`registry`), the shipped todo skills
(`todos`, on `storage.todos`), and their activities (`blueprint`). `from skills import registry` is the app's
registry, with the shipped skills registered."""

from __future__ import annotations

from skills import todos as _todos  # noqa: F401 - registers the shipped skills
from skills.registry import registry

__all__ = ["registry"]
