"""devhost: a local host for Azure Functions Python v2 apps, run as `python -m devhost start`.

Its modules, by room (docs/devhost.md tells what the host does; docs/durable-engine.md the durable engine):

- `__main__`: `python -m devhost`, the command line wired to the extensions; `cli`: the `start` command
- `config`: host.json, local.settings.json and the command line as one `HostConfig`; `logs`: the log format
- `loader`: import the app and index its functions (the worker's checks); `http_types`: which request type a
  function takes
- `server`: the starlette app run by uvicorn; `protocol`: the HTTP/1.1 parser's limits; `paths`: the path limits;
  `routing` and `constraints`: route templates; `keys`: auth levels; `responses`: JSON errors; `easyauth`: App
  Service Authentication's emulation (`/.auth/*`, the principal headers)
- `invoke`: call one HTTP function as the worker does; `bodies`: a request body gathered into one `bytes`
- `workers`: the host's side of its worker processes; `worker_main`: a worker process, which loads and runs the
  app; `channel`: the messages between them; `processes`: stopping child processes
- `extension`: the seam the extensions plug into; `timers`: timer triggers; `durable`: the Durable Functions
  engine (a package of its own)
- `azurite`: run Azurite beside the host (`--azurite`)
"""

from __future__ import annotations

__all__: list[str] = []
