"""A real reverse proxy in front of devhost: Debian's nginx terminating TLS at another host name, for tests of what the
app hands out behind a front end (a custom domain, a tunnel).

nginx listens on `https://localhost:<port>` with a certificate made for the test (openssl), forwards to devhost on
127.0.0.1 with `Host`, `X-Forwarded-Host` and `X-Forwarded-Proto` as App Service's front ends and most proxies set
them, and streams (no buffering: server-sent events pass as they come). `make test` installs nginx; without it the
tests that need it skip, saying so.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from devhost.processes import stop_process
from tests.support.ports import free_port, wait_for_port

__all__ = ["FrontEnd", "FrontEndMissing", "start_front_end"]

_CONFIG = """
worker_processes 1;
master_process off;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    client_max_body_size 2m;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {dir}/cert.pem;
        ssl_certificate_key {dir}/key.pem;
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 300s;
        }}
    }}
}}
"""


class FrontEndMissing(RuntimeError):
    """nginx or openssl is not installed."""


@dataclass
class FrontEnd:
    """One running nginx in front of one upstream."""

    directory: Path
    port: int
    upstream: int
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def origin(self) -> str:
        """`https://localhost:<port>`."""
        return f"https://localhost:{self.port}"

    @property
    def host(self) -> str:
        """`localhost:<port>`: what the front end forwards as its host."""
        return f"localhost:{self.port}"

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop nginx by its PID."""
        if self.process is not None:
            stop_process(self.process, 10.0)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None


def start_front_end(directory: Path, upstream_port: int, port: int | None = None) -> FrontEnd:
    """nginx on `https://localhost:<port>` forwarding to `127.0.0.1:<upstream_port>`; FrontEndMissing without nginx."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    openssl = shutil.which("openssl")
    if nginx is None or openssl is None:
        raise FrontEndMissing("nginx and openssl are needed (`make test` installs Debian's nginx-light)")
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(directory / "key.pem"),
            "-out",
            str(directory / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    front = FrontEnd(directory=directory, port=port or free_port(), upstream=upstream_port)
    (directory / "nginx.conf").write_text(_CONFIG.format(dir=directory, port=front.port, upstream=upstream_port))
    front._log = open(directory / "nginx.out", "ab")
    front.process = subprocess.Popen(
        [nginx, "-p", str(directory), "-c", str(directory / "nginx.conf")],
        stdout=front._log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    if not wait_for_port(front.port, timeout=10):
        front.stop()
        raise RuntimeError(f"nginx did not start: {front.error_log()}")
    return front
