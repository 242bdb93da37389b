"""Timer functions that write each run (name, past_due) as a line of `runs.txt` next to this file."""

import json
from pathlib import Path

import azure.functions as func

app = func.FunctionApp()
RUNS = Path(__file__).parent / "runs.txt"


def _record(name: str, timer: func.TimerRequest) -> None:
    with RUNS.open("a", encoding="utf-8") as out:
        out.write(json.dumps({"name": name, "pastDue": timer.past_due}) + "\n")


@app.timer_trigger(schedule="*/1 * * * * *", arg_name="timer", run_on_startup=False, use_monitor=False)
def every_second(timer: func.TimerRequest) -> None:
    _record("every_second", timer)


@app.timer_trigger(schedule="0 0 3 * * *", arg_name="timer", run_on_startup=True)
def at_startup(timer: func.TimerRequest) -> None:
    _record("at_startup", timer)


@app.timer_trigger(schedule="%DAILY_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
async def daily(timer: func.TimerRequest) -> None:
    _record("daily", timer)
