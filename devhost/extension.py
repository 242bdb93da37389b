"""The seam between the HTTP host and the trigger/binding extensions it hosts (the durable engine).

The HTTP host knows nothing of Durable Functions: it asks each extension for extra routes,
for the value of input bindings of the types the extension owns, and which trigger types
the extension serves, and starts and stops extensions with the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from starlette.routing import BaseRoute

from devhost.loader import FunctionIndex, FunctionSpec

__all__ = ["BindingRequest", "HostExtension"]


@dataclass(frozen=True)
class BindingRequest:
    """What an extension needs to produce one input-binding value for one invocation.

    Nothing of the invocation's request is in it: a value that holds addresses (the durable client's URLs) is built
    from the host's own configuration, never from a request's Host or forwarding headers.
    """

    function: FunctionSpec
    binding: dict[str, Any]
    """The binding as plain JSON (`type`, `name`, and its own properties)."""


class HostExtension(Protocol):
    """An extension plugged into devhost (today: the durable engine)."""

    trigger_types: frozenset[str]
    """Trigger types (lower-case) this extension serves; listed at start, never invoked over HTTP."""
    binding_types: frozenset[str]
    """Input binding types (lower-case) this extension provides values for, e.g. `durableclient`."""

    def routes(self) -> list[BaseRoute]:
        """Routes mounted ahead of the app's HTTP functions (e.g. `/runtime/webhooks/durabletask/...`)."""
        ...

    def binding_value(self, request: BindingRequest) -> Any:
        """The value passed to the function parameter named by `request.binding['name']`."""
        ...

    async def startup(self, index: FunctionIndex) -> None:
        """Called once the server is listening, before `/admin/host/status` reports Running."""
        ...

    async def shutdown(self) -> None:
        """Called when the server stops; must leave persisted state consistent."""
        ...
