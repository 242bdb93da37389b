"""The channel's messages: one frozen, slotted dataclass per kind, each through one encode/decode unchanged."""

from __future__ import annotations

import asyncio
import dataclasses
import pickle
import socket
import typing

import pytest

from devhost import channel
from devhost.channel import (
    ActivityCall,
    Cancel,
    ChannelError,
    EntityCall,
    Failure,
    HttpBody,
    HttpCall,
    HttpStart,
    LoadError,
    Message,
    OrchestratorCall,
    Ready,
    RequestBody,
    Result,
    Rpc,
    RpcResult,
    StatusChanged,
    Tally,
    TallyQuery,
    TimerCall,
    decode,
    encode,
    read_message,
    write_message,
)
from devhost.durable.store import ActivityRow

EXAMPLES: list[Message] = [
    Ready([{"name": "f", "bindings": [{"type": "httpTrigger"}]}]),
    LoadError("FunctionLoadError: cannot load the f function"),
    Result(3, {"EventType": 5, "Result": '"ok"'}),
    Result(4, None),
    Failure(5, "ValueError: boom\n  File ..."),
    HttpStart(6, 200, [(b"content-type", b"text/plain")]),
    HttpBody(6, b"x" * 70_000, False),
    Rpc(7, "POST", "/runtime/webhooks/durabletask/orchestrators/chain", "code=k", b'"input"'),
    Rpc(8, "GET", "/runtime/webhooks/durabletask/instances/a%3Ab", "", None),
    HttpCall("echo", {"method": "GET", "headers": [(b"host", b"h")]}, {"id": "1"}, {"c": "{}"}, b"body", call_id=9),
    HttpCall("echo", {"method": "POST"}, {}, {}, b"first piece", True, 2_000_000, 17),
    RequestBody(17, b"y" * 65536, True),
    OrchestratorCall("chain", '{"history": []}', 10),
    EntityCall("counter", "@counter@k", True, "5", [{"op": "add", "input": "1"}], 11),
    ActivityCall(ActivityRow(1, "i", "e", 0, "hello", '"x"'), 12),
    TimerCall("tick", False, {}, 13),
    Cancel(14),
    RpcResult(15, None, b"", 2),
    RpcResult(16, 200, b'{"runtimeStatus": "Running"}', 3),
    StatusChanged("inst", 4),
    TallyQuery(17),
    Tally(17, {"inst": (3, [1.5, 2.0, 2.5])}),
]


def test_every_kind_is_a_frozen_slotted_dataclass_with_an_example() -> None:
    """Each message class of the unions is a frozen dataclass with slots, and the examples cover every kind."""
    kinds = set(typing.get_args(channel.WorkerMessage)) | set(typing.get_args(channel.HostMessage))
    assert {type(m) for m in EXAMPLES} == kinds
    for kind in kinds:
        assert dataclasses.is_dataclass(kind) and kind.__dataclass_params__.frozen  # type: ignore[attr-defined]
        assert "__slots__" in vars(kind) and not hasattr(kind(*_defaults(kind)), "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        Cancel(1).call_id = 2  # type: ignore[misc]


def _defaults(kind: type) -> list[object]:
    return [None for f in dataclasses.fields(kind) if f.default is dataclasses.MISSING]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_encode_decode_round_trip(message: Message) -> None:
    assert decode(encode(message)) == message


def test_bytes_that_are_no_message_are_refused() -> None:
    """Garbage, a pickled tuple of an unknown kind, or a plain pickled value: ChannelError, never a crash elsewhere."""
    for data in (b"not a pickle", pickle.dumps((999, 1)), pickle.dumps("text"), pickle.dumps((0,))):
        with pytest.raises(ChannelError):
            decode(data)


def test_frames_cross_a_socket_pair_in_order() -> None:
    """Small and large frames (a large one is written as header and data apart) arrive whole and in order."""

    async def go() -> list[Message]:
        left, right = socket.socketpair()
        _, writer = await asyncio.open_connection(sock=left)
        reader, other = await asyncio.open_connection(sock=right)
        sent = [HttpBody(1, b"a" * 10, True), HttpBody(1, b"b" * 300_000, True), Cancel(1)]
        for message in sent:
            write_message(writer, message)
        await writer.drain()
        received = [await read_message(reader) for _ in sent]
        writer.close()
        other.close()
        return received

    received = asyncio.run(go())
    assert [type(m) for m in received] == [HttpBody, HttpBody, Cancel]
    assert received[1] == HttpBody(1, b"b" * 300_000, True)
