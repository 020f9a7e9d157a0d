"""Tiny checkpoints (frames with a training store, sensors, proprio) and real uvicorn servers."""

import dataclasses
import http.client
import json
import threading
import time
from pathlib import Path

import pytest
import torch
import uvicorn

from amiwm.checkpoint import save_checkpoint
from amiwm.config import ModelConfig
from amiwm.models.world_model import WorldModel
from amiwm.serving.server import bind

SIZE = 16
TOKEN = "test-token-0123456789abcdef"


def frames_config() -> ModelConfig:
    return ModelConfig(
        obs_shape=[SIZE, SIZE, 3],
        latent_dim=8,
        encoder_width=8,
        predictor_dim=32,
        predictor_depth=2,
        predictor_heads=2,
        history=2,
        action_low=[-1.0, -1.0],
        action_high=[1.0, 1.0],
    )


@pytest.fixture(scope="session")
def frames_ckpt(tmp_path_factory, store_factory) -> Path:
    """A frames checkpoint whose config names a readable training store (for the graph)."""
    root = tmp_path_factory.mktemp("frames")
    store = store_factory(root / "data.h5", episodes=4, length=12, size=SIZE)
    torch.manual_seed(0)
    model = WorldModel(frames_config()).eval()
    return save_checkpoint(
        root / "ckpt", model.config, model.state_dict(), run={"dataset": str(store)}
    )


@pytest.fixture(scope="session")
def sensors_ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    cfg = ModelConfig(
        modality="sensors",
        obs_shape=[4, 3],
        encoder="mlp",
        latent_dim=8,
        predictor_dim=32,
        predictor_depth=2,
        predictor_heads=2,
        history=2,
        action_dim=1,
        action_low=[-1.0],
        action_high=[1.0],
    )
    model = WorldModel(cfg).eval()
    return model.save_pretrained(tmp_path_factory.mktemp("sensors") / "ckpt")


@pytest.fixture(scope="session")
def proprio_ckpt(tmp_path_factory) -> Path:
    """A frames model trained with robot state (--proprio): 3 state values beside each frame."""
    torch.manual_seed(0)
    cfg = dataclasses.replace(
        frames_config(),
        proprio=True,
        state_dim=3,
        state_mean=[0.5, -1.0, 2.0],
        state_std=[0.5, 2.0, 1.0],
    )
    model = WorldModel(cfg).eval()
    return model.save_pretrained(tmp_path_factory.mktemp("proprio") / "ckpt")


class ThreadServer:
    """A real uvicorn server on a free loopback port, in a thread of this process."""

    def __init__(self, app, **config) -> None:
        self.sock = bind("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        scheme = "https" if config.get("ssl_certfile") else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.app = app
        cfg = uvicorn.Config(app, log_level="warning", access_log=False, **config)
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)

    def post(self, path: str, body: bytes | str, headers: dict | None = None):
        """Send raw bytes; return (status, parsed JSON or text)."""
        return send(self.port, "POST", path, body, headers)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def send(port: int, method: str, path: str, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        data = body.encode() if isinstance(body, str) else body
        h = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
        h.update(headers or {})
        conn.request(method, path, data, {k: v for k, v in h.items() if v is not None})
        resp = conn.getresponse()
        text = resp.read().decode()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text
    finally:
        conn.close()


@pytest.fixture(scope="session")
def token() -> str:
    return TOKEN


@pytest.fixture(scope="session")
def raw_send():
    """send(port, method, path, body=None, headers=None) -> (status, JSON or text)."""
    return send


@pytest.fixture
def serve_app():
    """Start apps on real loopback servers; all stopped at the end of the test."""
    servers = []

    def start(app, **config):
        servers.append(ThreadServer(app, **config))
        return servers[-1]

    yield start
    for srv in servers:
        srv.stop()


@pytest.fixture(scope="module")
def server(frames_ckpt):
    """The frames model served with a token (module scope: one model load per test file)."""
    from amiwm.serving.app import create_app

    srv = ThreadServer(create_app(frames_ckpt, TOKEN))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def proprio_server(proprio_ckpt):
    """The proprio model served with a token."""
    from amiwm.serving.app import create_app

    srv = ThreadServer(create_app(proprio_ckpt, TOKEN))
    yield srv
    srv.stop()
