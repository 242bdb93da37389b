"""LangGraph: a StateGraph of a model node and the prebuilt ToolNode, checkpointed to SQLite.

As LangGraph's own agent tutorial builds it: `MessagesState`, `ChatOpenAI(...).bind_tools`,
`ToolNode` + `tools_condition`, one thread per chat (`thread_id`), `AsyncSqliteSaver` saving a
checkpoint after every step. The model node sends the instructions and the newest messages
(`common.window`), as the other systems do. The instructions are the thread's first message.
"""

from __future__ import annotations

import json
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Annotated, Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import InjectedToolCallId, tool
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from bench.peer_servers.common import MODEL, Peer, sleep_result, window

__all__ = ["LangGraphPeer", "build"]

_ROLES = {"human": "user", "ai": "assistant", "tool": "tool", "system": "system"}


@tool("Sleep")
def sleep_tool(milliseconds: int, tool_call_id: Annotated[str, InjectedToolCallId]) -> str:
    """Wait the given number of milliseconds (a benchmark tool of known latency)."""
    return sleep_result(tool_call_id, {"milliseconds": milliseconds})


def _as_dict(message: BaseMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": _ROLES.get(message.type, message.type), "content": message.content}
    if isinstance(message, AIMessage) and message.tool_calls:
        out["tool_calls"] = [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": json.dumps(c["args"])}}
            for c in message.tool_calls
        ]
    if isinstance(message, ToolMessage):
        out["tool_call_id"] = message.tool_call_id
    return out


class LangGraphPeer(Peer):
    def __init__(self, data_dir: Path, model_url: str) -> None:
        self._path = data_dir / "checkpoints.sqlite"
        self._model = ChatOpenAI(model=MODEL, base_url=model_url, api_key="bench").bind_tools([sleep_tool])
        self._stack = AsyncExitStack()
        self._graph: Any = None

    async def _agent(self, state: MessagesState) -> dict[str, list[BaseMessage]]:
        messages = state["messages"]
        prompt = [messages[0], *window(messages[1:], lambda m: _ROLES.get(m.type, m.type))]
        return {"messages": [await self._model.ainvoke(prompt)]}

    async def start(self) -> None:
        saver = await self._stack.enter_async_context(AsyncSqliteSaver.from_conn_string(str(self._path)))
        builder = StateGraph(MessagesState)
        builder.add_node("agent", self._agent)
        builder.add_node("tools", ToolNode([sleep_tool]))
        builder.add_edge(START, "agent")
        builder.add_conditional_edges("agent", tools_condition)
        builder.add_edge("tools", "agent")
        self._graph = builder.compile(checkpointer=saver)

    async def stop(self) -> None:
        await self._stack.aclose()

    @staticmethod
    def _config(chat: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": chat}}

    async def create(self, chat: str, instructions: str) -> None:
        await self._graph.aupdate_state(
            self._config(chat), {"messages": [SystemMessage(instructions)]}, as_node="agent"
        )

    async def turn(self, chat: str, message: str) -> list[dict[str, Any]] | None:
        # No read before the turn (LangGraph loads the checkpoint itself): a chat never PUT is not a 404 here.
        asked = HumanMessage(message, id=str(uuid.uuid4()))
        result = await self._graph.ainvoke({"messages": [asked]}, self._config(chat))
        messages = result["messages"]
        first = next(i for i in range(len(messages) - 1, -1, -1) if messages[i].id == asked.id)
        return [_as_dict(m) for m in messages[first:]]

    async def count(self, chat: str) -> int | None:
        state = await self._graph.aget_state(self._config(chat))
        messages = state.values.get("messages")
        return len(messages) if messages else None


def build(data_dir: Path, model_url: str) -> Peer:
    return LangGraphPeer(data_dir, model_url)
