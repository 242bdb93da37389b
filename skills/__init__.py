"""The skills the assistant offers the model as tools, their registry and their stores."""

from __future__ import annotations

from skills import todos as _todos  # noqa: F401 - registers AddTodo and GetTodos
from skills.registry import Skill, SkillContext, SkillError, SkillRegistry, registry

__all__ = ["Skill", "SkillContext", "SkillError", "SkillRegistry", "registry"]
