"""Benchmark app: the standard Durable throughput workload ("hello cities").

One orchestrator calls five `say_hello` activities in sequence; per instance that is
6 orchestrator steps (episodes) and 5 activity executions: 11 work items.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

CITIES = ("Tokyo", "Seattle", "London", "Cairo", "Lima")


@app.orchestration_trigger(context_name="context")
def hello_cities(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    greetings = []
    for city in CITIES:
        greetings.append((yield context.call_activity("say_hello", city)))
    return greetings


@app.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    return f"Hello {city}!"
