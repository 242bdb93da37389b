"""The peers of `python -m bench peers`: the same chat turn served by other stacks a Python user could pick.

Each module builds a Starlette app with the chat API's shape (`bench/peer_servers/common.py`) and is run
by `python -m bench.peer_servers <system>` in its own process, with the optional packages of
`bench/peer_servers/requirements.txt` (installed into `.venv-peers` by the benchmark itself):

- `plain`: Starlette + SQLite, not durable (a crash mid-turn loses the turn): the practical floor;
- `langgraph`: a LangGraph StateGraph (model node, prebuilt ToolNode) with the SQLite checkpointer;
- `dbos`: a DBOS Transact workflow per turn (model and tool calls as steps) on a SQLite system database.
"""
