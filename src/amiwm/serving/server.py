"""Run the app on uvicorn: loopback by default, a token required for any other address."""

from __future__ import annotations

import ipaddress
import os
import socket
import stat
import sys
from pathlib import Path

from amiwm.errors import AmiError
from amiwm.serving.validate import Limits

MIN_TOKEN_CHARS = 16


def read_token(path: Path) -> str:
    """The bearer token: the file's content, stripped; at least 16 characters."""
    try:
        token = Path(path).read_text().strip()
        mode = Path(path).stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise AmiError(f"cannot read token file {path}: {exc}") from None
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise AmiError(
            f"token file {path} must hold one token of >= {MIN_TOKEN_CHARS} characters without "
            "spaces; make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        print(f"warning: token file {path} is readable by other users (chmod 600)", file=sys.stderr)
    return token


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one), or a one-line AmiError."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise AmiError(f"cannot resolve --host {host!r}: {exc.strerror}") from None
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(256)
    except OSError as exc:
        sock.close()
        raise AmiError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def is_loopback(sock: socket.socket) -> bool:
    return ipaddress.ip_address(sock.getsockname()[0]).is_loopback


def serve(
    checkpoint: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token_file: Path | None = None,
    insecure: bool = False,
    graph: bool = True,
    threads: int | None = None,
    limits: Limits | None = None,
    access_log: bool = False,
    ssl_certfile: Path | None = None,
    ssl_keyfile: Path | None = None,
    state_cost: float = 0.0,
    state_cost_entries: tuple[int, ...] = (),
) -> None:
    """Load the checkpoint, bind, print the URL, serve until SIGINT/SIGTERM. `state_cost`:
    plans add the distance of the state the model's read-out reads (Engine.load)."""
    import torch
    import uvicorn

    from amiwm.serving.app import create_app

    token = read_token(token_file) if token_file is not None else None
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise AmiError("--ssl-certfile and --ssl-keyfile go together")
    if port < 0 or port > 65535:
        raise AmiError(f"--port must be in 0..65535, got {port}")
    if threads is not None and threads < 1:
        raise AmiError(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads or max(1, min(os.cpu_count() or 1, 4)))
    sock = bind(host, port)
    try:
        if not is_loopback(sock) and token is None and not insecure:
            raise AmiError(
                f"refusing to serve on non-loopback {host} without --token-file (anyone on the "
                "network could drive the model); pass --token-file FILE, or --insecure to accept"
            )
        app = create_app(checkpoint, token, limits=limits, graph=graph, state_cost=state_cost,
                         state_cost_entries=state_cost_entries)  # fmt: skip
        config = uvicorn.Config(
            app,
            access_log=access_log,
            server_header=False,
            timeout_keep_alive=30,
            limit_concurrency=(limits or Limits()).max_queue * 2,
            ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
            ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
            log_level="info",
        )
        bound_host, bound_port = sock.getsockname()[:2]
        scheme = "https" if ssl_certfile else "http"
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        print(f"serving {checkpoint} on {scheme}://{shown}:{bound_port}", flush=True)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
