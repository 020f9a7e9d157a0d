"""`Client`: call an `ami-cli serve` server with numpy arrays (a urllib3 keep-alive pool).

One Client may be shared by many threads (like a requests.Session): each request borrows its
own connection from the pool (`connections` kept open, more opened when needed). Server-side
4xx/5xx answers raise AmiError with the server's one-line message; a request is retried once
on a dropped keep-alive connection (every endpoint is stateless, so a retry is safe).
"""

from __future__ import annotations

import base64
import json
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError
from urllib3.exceptions import TimeoutError as Timeout

from amiwm.errors import AmiError


@dataclass
class Plan:
    """A plan from /v1/plan: actions (horizon, action_dim) float32 and server timings."""

    actions: np.ndarray
    cost: float
    plan_ms: float
    queue_ms: float
    batch: int
    subgoal: bool


def raw(arr: np.ndarray) -> dict[str, Any]:
    """A numpy array as the server's raw-array JSON form (exact, compact)."""
    a = np.asarray(arr)
    if a.dtype == np.uint8:
        dtype = "uint8"
    elif a.dtype == np.float64:
        dtype = "float64"
    else:
        a, dtype = a.astype(np.float32), "float32"
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    return {"dtype": dtype, "shape": list(a.shape), "data": base64.b64encode(a).decode()}


def png(frame: np.ndarray) -> str:
    """A uint8 frame (H, W, C) as a base64 PNG string."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    f = np.asarray(frame, dtype=np.uint8)
    Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


class Client:
    """Client(url, token=None, timeout=30): encode / predict / surprise / plan / health.

    frames="raw" sends uint8 arrays as raw base64 (fastest on a LAN); "png" sends frames as
    PNG (smaller on slow links). ca_file: a CA bundle or self-signed certificate for https.
    Thread-safe: `connections` keep-alive connections are kept for threads sharing the Client.
    """

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000",
        token: str | None = None,
        timeout: float = 30.0,
        *,
        frames: str = "raw",
        ca_file: str | None = None,
        connections: int = 8,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AmiError(f"server URL must look like http://host:port, got {url!r}")
        if connections < 1:
            raise AmiError(f"connections must be >= 1, got {connections}")
        if frames not in ("raw", "png"):
            raise AmiError(f"frames must be 'raw' or 'png', got {frames!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.frames = frames
        self._prefix = parts.path.rstrip("/")
        self._model: dict[str, Any] | None = None
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {
            "port": parts.port,
            "maxsize": connections,
            "block": False,  # more threads than connections: open extra, keep `connections`
            "timeout": urllib3.Timeout(connect=timeout, read=timeout),
            "retries": False,
            "headers": self._headers,
        }
        if parts.scheme == "https":
            kwargs["ssl_context"] = ssl.create_default_context(cafile=ca_file)
            self._pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
                parts.hostname, **kwargs
            )
        else:
            self._pool = urllib3.HTTPConnectionPool(parts.hostname, **kwargs)

    # ------------------------------------------------------------------ transport
    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One call; returns the parsed JSON (or text for /metrics). AmiError on failure."""
        data = None if body is None else json.dumps(body).encode()
        for attempt in (0, 1):
            try:
                resp = self._pool.request(method, self._prefix + path, body=data)
                break
            except ProtocolError:  # a keep-alive connection the server had dropped
                if attempt:
                    raise AmiError(f"{self.url} closed the connection") from None
            except NewConnectionError as exc:  # (a subclass of urllib3's timeout error)
                raise AmiError(f"cannot reach {self.url}: {exc}") from None
            except Timeout:
                raise AmiError(f"{self.url} did not answer within {self.timeout:g} s") from None
            except (OSError, HTTPError) as exc:
                raise AmiError(f"cannot reach {self.url}: {exc}") from None
        text = resp.data.decode("utf-8", "replace")
        if resp.status >= 400:
            try:
                message = json.loads(text)["error"]
            except (ValueError, KeyError, TypeError):
                message = text[:200] or resp.reason
            raise AmiError(f"server answered {resp.status}: {message}")
        ctype = resp.headers.get("Content-Type", "")
        return json.loads(text) if ctype.startswith("application/json") else text

    def _array(self, arr: Any) -> Any:
        a = np.asarray(arr)
        if self.frames != "png" or a.dtype != np.uint8 or a.ndim < 3 or a.shape[-1] > 4:
            return raw(a)
        return png(a) if a.ndim == 3 else [self._array(x) for x in a]

    # ------------------------------------------------------------------ endpoints
    def health(self) -> dict[str, Any]:
        """/healthz: status, model shapes, limits, plan defaults."""
        return self.request("GET", "/healthz")

    def metrics(self) -> str:
        return self.request("GET", "/metrics")

    def wait(self, seconds: float = 60.0) -> dict[str, Any]:
        """Poll /healthz until the server answers (e.g. right after starting it)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                return self.health()
            except AmiError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def encode(self, observations: np.ndarray, states: np.ndarray | None = None) -> np.ndarray:
        """(B, *obs_shape) or one observation -> latents (B, D) or (D,). A model trained with
        --proprio takes the robot states too: (B, S), or (S,) with one observation."""
        obs = np.asarray(observations)
        single = obs.ndim == len(self.health_cache()["obs_shape"])
        body = {"observations": self._array(obs[None] if single else obs)}
        if states is not None:
            st = np.asarray(states, np.float32)
            body["states"] = raw(st[None] if single else st)
        out = self.request("POST", "/v1/encode", body)
        z = np.asarray(out["latents"], dtype=np.float32)
        return z[0] if single else z

    def predict(
        self,
        actions: np.ndarray,
        *,
        latents: np.ndarray | None = None,
        observations: np.ndarray | None = None,
        states: np.ndarray | None = None,
    ) -> np.ndarray:
        """Context latents (B, h, D) or observations (B, h, *obs) (with a proprio model's
        states (B, h, S)), actions (B, h - 1 + n, A) -> imagined latents (B, n, D)."""
        body: dict[str, Any] = {"actions": raw(np.asarray(actions, np.float32))}
        if latents is not None:
            body["latents"] = raw(np.asarray(latents, np.float32))
        if observations is not None:
            body["observations"] = self._array(observations)
        if states is not None:
            body["states"] = raw(np.asarray(states, np.float32))
        out = self.request("POST", "/v1/predict", body)
        return np.asarray(out["latents"], dtype=np.float32)

    def surprise(
        self, observations: np.ndarray, actions: np.ndarray, states: np.ndarray | None = None
    ) -> np.ndarray:
        """Observations (B, h + 1, *obs), actions (B, h, A) (and a proprio model's states
        (B, h + 1, S)) -> surprise (B,)."""
        body = {"observations": self._array(observations), "actions": raw(actions)}
        if states is not None:
            body["states"] = raw(np.asarray(states, np.float32))
        out = self.request("POST", "/v1/surprise", body)
        return np.asarray(out["surprise"], dtype=np.float32)

    def plan(
        self,
        observation: np.ndarray,
        goal: np.ndarray,
        state: np.ndarray | None = None,
        goal_state: np.ndarray | None = None,
        *,
        samples: int | None = None,
        elites: int | None = None,
        iterations: int | None = None,
        horizon: int | None = None,
        seed: int = 0,
        graph: bool = True,
        free_state: list[int] | tuple[int, ...] = (),
    ) -> Plan:
        """Plan actions from one observation toward a goal observation; a proprio model takes
        the robot state (S,) of each too (`state`, `goal_state`), and reaches the goal with its
        `free_state` entries at any value (e.g. a reacher's joint velocities, [2, 3])."""
        budget = {"samples": samples, "elites": elites, "iterations": iterations}
        budget["horizon"] = horizon
        body = {
            "observation": self._array(observation),
            "goal": self._array(goal),
            "budget": {k: v for k, v in budget.items() if v is not None},
            "seed": seed,
            "graph": graph,
        }
        if free_state:
            body["free_state"] = [int(i) for i in free_state]
        for name, value in (("state", state), ("goal_state", goal_state)):
            if value is not None:
                body[name] = raw(np.asarray(value, np.float32))
        out = self.request("POST", "/v1/plan", body)
        return Plan(
            np.asarray(out["actions"], dtype=np.float32),
            float(out["cost"]),
            float(out["plan_ms"]),
            float(out["queue_ms"]),
            int(out["batch"]),
            bool(out["subgoal"]),
        )

    def health_cache(self) -> dict[str, Any]:
        """The model section of /healthz, fetched once."""
        if self._model is None:
            self._model = self.health()["model"]
        return self._model
