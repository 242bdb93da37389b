"""HTTP streams (the azurefunctions-extensions-http-fastapi extension): a chunked stream, route params, a disconnect."""

import asyncio
import json
import time
from pathlib import Path

import azure.functions as func
from azurefunctions.extensions.http.fastapi import JSONResponse, Request, StreamingResponse

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
EVENTS = Path(__file__).parent / "events.txt"


def _note(line: str) -> None:
    with EVENTS.open("a", encoding="utf-8") as out:
        out.write(line + "\n")


@app.route(route="count/{n:int}", methods=["GET"])
async def count(req: Request) -> StreamingResponse:
    """`n` lines, one every `delay` seconds; notes when it finishes and when the client went away."""
    n = int(req.path_params["n"])
    delay = float(req.query_params.get("delay", "0.1"))
    tag = req.query_params.get("tag", "count")

    async def lines():
        try:
            for i in range(n):
                yield f"{i} {time.time():.3f}\n".encode()
                await asyncio.sleep(delay)
            _note(f"{tag} finished")
        except asyncio.CancelledError:
            _note(f"{tag} cancelled")
            raise

    return StreamingResponse(lines(), media_type="text/plain")


@app.route(route="echo/{name}", methods=["POST"])
async def echo(req: Request) -> JSONResponse:
    """Route params, query, headers and the body as FastAPI gives them."""
    body = await req.body()
    return JSONResponse(
        {
            "name": req.path_params["name"],
            "q": req.query_params.get("q"),
            "header": req.headers.get("x-test"),
            "json": json.loads(body) if body else None,
            "method": req.method,
        },
        status_code=201,
    )


@app.route(route="text", methods=["GET"])
async def text(req: Request) -> str:
    return "plain text"
