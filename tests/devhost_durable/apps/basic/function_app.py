"""A small durable app exercising the engine's protocol paths (used by the engine's own tests)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    cities = context.get_input() or ["Tokyo", "Seattle", "London"]
    results = []
    for city in cities:
        results.append((yield context.call_activity("hello", city)))
    return results


@app.orchestration_trigger(context_name="context")
def fan(context: df.DurableOrchestrationContext):
    count = context.get_input() or 5
    tasks = [context.call_activity("double", i) for i in range(count)]
    values = yield context.task_all(tasks)
    return sum(values)


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=spec["attempts"])
    try:
        value = yield context.call_activity_with_retry("flaky", options, spec)
    except Exception as exc:  # the test reads how the failure arrived
        return {"failed": str(exc)[:200]}
    return {"value": value}


@app.orchestration_trigger(context_name="context")
def retry_pair(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=spec["attempts"])
    tasks = [
        context.call_activity_with_retry("flaky", options, {"counter": c, "succeed_on": spec["succeed_on"]})
        for c in spec["counters"]
    ]
    try:
        return {"values": (yield context.task_all(tasks))}
    except Exception as exc:  # the test reads how the failure arrived
        return {"failed": str(exc)[:200]}


@app.orchestration_trigger(context_name="context")
def always_fails(context: df.DurableOrchestrationContext):
    raise RuntimeError(f"child {context.get_input()} always fails")


@app.orchestration_trigger(context_name="context")
def sub_retry_pair(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=2)
    tasks = [context.call_sub_orchestrator_with_retry("always_fails", options, n) for n in (1, 2)]
    try:
        yield context.task_all(tasks)
    except Exception as exc:  # the test reads how the failure arrived
        return {"failed": str(exc)[:200]}
    return {"failed": None}


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    timeout = context.get_input() or 30
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=timeout))
    event = context.wait_for_external_event("approve")
    winner = yield context.task_any([event, timer])
    if winner == event:
        timer.cancel()
        return {"approved": event.result}
    return {"approved": None}


@app.orchestration_trigger(context_name="context")
def counter_user(context: df.DurableOrchestrationContext):
    entity = df.EntityId("counter", context.get_input())
    context.signal_entity(entity, "add", 5)
    value = yield context.call_entity(entity, "add", 2)
    context.set_custom_status({"seen": value})
    return value


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    first = yield context.call_sub_orchestrator("chain", ["A"])
    second = yield context.call_sub_orchestrator("chain", ["B"], instance_id=f"{context.instance_id}-child")
    return first + second


@app.orchestration_trigger(context_name="context")
def looping(context: df.DurableOrchestrationContext):
    n = context.get_input()
    if n >= 3:
        return n
    yield context.call_activity("hello", str(n))
    context.continue_as_new(n + 1)


@app.orchestration_trigger(context_name="context")
def broken(context: df.DurableOrchestrationContext):
    yield context.call_activity("hello", "x")
    raise ValueError("orchestrator exploded")


@app.orchestration_trigger(context_name="context")
def shifty(context: df.DurableOrchestrationContext):
    marker = Path(os.environ.get("SHIFTY_MARKER", "/nonexistent"))
    name = "double" if marker.exists() else "hello"
    yield context.call_activity(name, 1)
    yield context.wait_for_external_event("go")
    return "done"


@app.orchestration_trigger(context_name="context")
def introspect(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("whoami", "x"))


@app.activity_trigger(input_name="name")
def whoami(name: str, context: func.Context) -> str:
    return f"{context.function_name}:{name}:{bool(context.invocation_id)}"


@app.activity_trigger(input_name="city")
def hello(city: str) -> str:
    return f"Hello {city}!"


@app.activity_trigger(input_name="value")
async def double(value: int) -> int:
    return value * 2


@app.activity_trigger(input_name="spec")
def flaky(spec: dict) -> str:
    path = Path(spec["counter"])
    calls = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(calls))
    if calls < spec["succeed_on"]:
        raise RuntimeError(f"attempt {calls} failed")
    return f"ok after {calls}"


@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext):
    value = context.get_state(lambda: 0)
    if context.operation_name == "add":
        value += context.get_input()
    elif context.operation_name == "reset":
        value = 0
    elif context.operation_name == "delete":
        context.destruct_on_exit()
        return
    elif context.operation_name == "fail":
        raise ValueError("counter cannot fail politely")
    elif context.operation_name == "set":  # keeps the input as given (to see how a signal's body arrived)
        value = context.get_input()
    context.set_state(value)
    context.set_result(value)


@app.route(route="start/{name}")
@app.durable_client_input(client_name="client")
async def starter(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    payload = req.get_json() if req.get_body() else None
    instance_id = await client.start_new(req.route_params["name"], req.params.get("id"), payload)
    return client.create_check_status_response(req, instance_id)


@app.entity_trigger(context_name="context")
def sleeper(context: df.DurableEntityContext):
    """`nap` (seconds): sleeps, then records when the nap began and ended (wall clock), so tests see overlaps."""
    import time as clock

    naps = context.get_state(lambda: [])
    if context.operation_name == "nap":
        began = clock.time()
        clock.sleep(float(context.get_input() or 0))
        naps.append([began, clock.time()])
    context.set_state(naps)
    context.set_result(len(naps))
