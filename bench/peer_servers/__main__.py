"""`python -m bench.peer_servers <plain|langgraph|dbos> --port N --data DIR --model-url URL`: serve one peer."""

from __future__ import annotations

import argparse
import importlib
import logging
from pathlib import Path

import uvicorn

from bench.peer_servers.common import build_app

SYSTEMS = ("plain", "langgraph", "dbos")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peer_servers")
    parser.add_argument("system", choices=SYSTEMS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True, help="directory for the peer's SQLite files")
    parser.add_argument("--model-url", required=True, help="the OpenAI-compatible model's base URL (…/v1)")
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.WARNING)
    peer = importlib.import_module(f"bench.peer_servers.{args.system}").build(args.data, args.model_url)
    uvicorn.run(
        build_app(peer), host="127.0.0.1", port=args.port, log_level="warning", access_log=False, timeout_keep_alive=75
    )  # as a production server behind a load balancer; 5 s closed pooled connections mid-run


if __name__ == "__main__":
    main()
