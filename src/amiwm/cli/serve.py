"""`ami-cli serve`: the HTTP API on uvicorn."""

from __future__ import annotations

import argparse
from pathlib import Path

from amiwm.cli import Parser
from amiwm.cli.eval import state_indices


def cmd_serve(args: argparse.Namespace) -> None:
    from amiwm.serving.server import serve
    from amiwm.serving.validate import Limits

    limits = Limits(
        max_body_bytes=int(args.max_body_mb * (1 << 20)),
        max_batch=args.max_batch,
        max_queue=args.max_queue,
        batch_wait_ms=args.batch_wait_ms,
    )
    serve(
        args.checkpoint,
        host=args.host,
        port=args.port,
        token_file=args.token_file,
        insecure=args.insecure,
        graph=not args.no_graph,
        threads=args.threads,
        limits=limits,
        access_log=args.access_log,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        state_cost=args.state_cost,
        state_cost_entries=tuple(args.state_cost_entries or ()),
    )


def register(sub: argparse._SubParsersAction) -> None:
    s: Parser = sub.add_parser("serve", help="serve a checkpoint over HTTP (encode/predict/plan)")
    s.add_argument("--checkpoint", type=Path, required=True, help="checkpoint or run dir")
    s.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    s.add_argument("--port", type=int, default=8000, help="TCP port (0: pick a free one)")
    s.add_argument("--token-file", type=Path, help="file holding the bearer token clients send")
    s.add_argument(
        "--insecure", action="store_true", help="allow a non-loopback host without a token"
    )
    s.add_argument(
        "--no-graph", action="store_true", help="no latent subgoal graph from the training data"
    )
    s.add_argument("--threads", type=int, help="torch threads (default: CPU count, at most 4)")
    s.add_argument("--max-body-mb", type=float, default=4.0, help="largest request body (MiB)")
    s.add_argument("--max-batch", type=int, default=64, help="observations per request")
    s.add_argument("--max-queue", type=int, default=256, help="queued requests before 503")
    s.add_argument(
        "--batch-wait-ms", type=float, default=2.0, help="wait for arriving requests to batch"
    )
    s.add_argument("--access-log", action="store_true", help="log every request")
    s.add_argument("--ssl-certfile", type=Path, help="TLS certificate (PEM) to serve HTTPS")
    s.add_argument("--ssl-keyfile", type=Path, help="TLS private key (PEM)")
    s.add_argument(
        "--state-cost",
        type=float,
        default=0.0,
        help="/v1/plan adds this weight times the distance of the state the model's read-out "
        "reads (a model trained with train.state_weight; default 0)",
    )
    s.add_argument(
        "--state-cost-entries",
        type=state_indices,
        help="state entries --state-cost measures, e.g. 0,1 (default: all the read-out reads)",
    )
    s.set_defaults(func=cmd_serve)
