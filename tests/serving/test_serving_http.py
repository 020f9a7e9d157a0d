"""A real uvicorn server on loopback: round trips, auth, size limits, hostile input."""

import base64
import sys
import threading

import numpy as np
import pytest
import torch

from amiwm.client import Client, png, raw
from amiwm.errors import AmiError
from amiwm.models.world_model import WorldModel

SIZE = 16
TOKEN = "test-token-0123456789abcdef"  # as conftest's token fixture


def frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def model(frames_ckpt):
    return WorldModel.from_pretrained(frames_ckpt)


@pytest.mark.parametrize("transport", ["raw", "png"])
def test_client_round_trips_match_the_model(server, model, transport):
    obs = frames(3)
    with Client(server.url, TOKEN, frames=transport) as c:
        health = c.health()
        assert health["model"]["obs_shape"] == [SIZE, SIZE, 3] and health["graph_nodes"] > 0
        with torch.no_grad():
            want = model.encode(torch.from_numpy(obs)).numpy()
        np.testing.assert_allclose(c.encode(obs), want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(c.encode(obs[0]), want[0], rtol=1e-5, atol=1e-6)

        seq = frames(2 * 3, 1).reshape(2, 3, SIZE, SIZE, 3)
        acts = np.random.default_rng(2).uniform(-1, 1, (2, 4, 2)).astype(np.float32)
        with torch.no_grad():
            imagined = model.rollout(torch.from_numpy(seq[:, :2]), torch.from_numpy(acts)).numpy()
            surprise = model.surprise(torch.from_numpy(seq), torch.from_numpy(acts[:, :2]))
        got = c.predict(acts, observations=seq[:, :2])
        assert got.shape == (2, 3, 8)
        np.testing.assert_allclose(got, imagined, rtol=1e-4, atol=1e-5)
        z = c.encode(seq[:, :2].reshape(-1, SIZE, SIZE, 3)).reshape(2, 2, 8)
        np.testing.assert_allclose(c.predict(acts, latents=z), imagined, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(
            c.surprise(seq, acts[:, :2]), surprise.numpy(), rtol=1e-4, atol=1e-6
        )

        plan = c.plan(obs[0], obs[1], seed=3, horizon=4)
        assert plan.actions.shape == (4, 2) and np.isfinite(plan.cost)
        assert (np.abs(plan.actions) <= 1.0).all()  # the model's action bounds
        again = c.plan(obs[0], obs[1], seed=3, horizon=4)
        np.testing.assert_array_equal(plan.actions, again.actions)  # stateless, seeded
        flat = c.plan(obs[0], obs[1], seed=3, horizon=4, graph=False)
        assert not flat.subgoal


def test_concurrent_plans_are_batched_and_all_answered(server):
    obs = frames(16, 5)
    results, errors = [None] * 16, []

    def worker(i):
        try:
            with Client(server.url, TOKEN) as c:
                results[i] = c.plan(obs[i], obs[15 - i], seed=i, samples=32)
        except Exception as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(r is not None and r.actions.shape == (5, 2) for r in results)
    assert max(r.batch for r in results) > 1  # concurrent requests shared a planner call
    text = Client(server.url, TOKEN).metrics()
    assert 'amiwm_requests_total{endpoint="/v1/plan",status="200"}' in text
    assert 'amiwm_batch_size_bucket{kind="plan",le="1"}' in text
    assert "amiwm_request_seconds_count" in text and "amiwm_resident_memory_bytes" in text


def test_auth(server, raw_send):
    body = {"observations": raw(frames(1))}
    with Client(server.url, TOKEN) as c:
        assert c.encode(frames(1)).shape == (1, 8)
    for token in (None, "wrong-token-0123456789abcdef", TOKEN[:-1], TOKEN + "x"):
        with Client(server.url, token) as c, pytest.raises(AmiError, match="401.*bearer token"):
            c.request("POST", "/v1/encode", body)
        with Client(server.url, token) as c, pytest.raises(AmiError, match="401"):
            c.metrics()
        with Client(server.url, token) as c:
            assert c.health()["status"] == "ok"  # liveness needs no token
    status, _ = raw_send(
        server.port, "POST", "/v1/encode", "{}", {"Authorization": f"Basic {TOKEN}"}
    )
    assert status == 401
    # a wrong token is refused before the body is read: even an oversized one gets 401
    status, _ = raw_send(
        server.port, "POST", "/v1/encode", b"x" * (5 << 20), {"Authorization": None}
    )
    assert status == 401


def test_body_size_limits(server):
    big = b'{"observations": [' + b"0," * (3 << 20) + b"0]}"  # > 4 MiB
    status, body = server.post("/v1/encode", big)
    assert status == 413 and "exceeds the server limit" in body["error"]
    # chunked upload without Content-Length: cut off once past the limit
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    chunks = (b"0," * 100_000 for _ in range(30))
    conn.request(
        "POST",
        "/v1/encode",
        chunks,
        {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        encode_chunked=True,
    )
    resp = conn.getresponse()
    assert resp.status == 413
    conn.close()
    too_many = {"observations": raw(frames(65))}  # max_batch is 64
    with Client(server.url, TOKEN) as c, pytest.raises(AmiError, match="400.*B=65"):
        c.request("POST", "/v1/encode", too_many)
    with Client(server.url, TOKEN) as c, pytest.raises(AmiError, match="400.*samples=4096"):
        c.plan(frames(1)[0], frames(1)[0], samples=4096)
    assert Client(server.url, TOKEN).health()["status"] == "ok"


def _png_bomb(width: int, height: int) -> str:
    """A valid PNG header for a huge image with a tiny (truncated) zlib stream."""
    import struct
    import zlib

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * (1 << 20), 9)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    return base64.b64encode(data).decode()


HOSTILE = [
    ("/v1/encode", "{", 400, "malformed JSON"),
    ("/v1/encode", "[1, 2", 400, "malformed JSON"),
    ("/v1/encode", "null", 422, ""),
    ("/v1/encode", '{"observations": [' + "1" * 5000 + "]}", 400, ""),
    ("/v1/encode", "[" * 50_000 + "]" * 50_000, 400, ""),
    ("/v1/encode", '{"observations": [[1, 2], [3]]}', 400, "rectangular"),
    ("/v1/encode", '{"observations": [[[[1.5]]]]}', 400, "integers"),
    ("/v1/encode", '{"observations": [[[[300]]]]}', 400, "0..255"),
    ("/v1/encode", '{"observations": NaN}', 422, "must be an array"),
    ("/v1/encode", '{"observations": [[[["a"]]]]}', 400, ""),
    ("/v1/encode", '{"observations": "not base64!"}', 400, "base64"),
    ("/v1/encode", '{"observations": "aGVsbG8="}', 400, "not a PNG"),
    ("/v1/encode", '{"observations": {"dtype": "uint8", "shape": [1], "data": "AAAA"}}', 400, ""),
    ("/v1/encode", '{"observations": {"dtype": "int8", "shape": [1], "data": "AA=="}}', 422, ""),
    ("/v1/encode", '{"observations": {"dtype": "uint8", "shape": [-1], "data": ""}}', 422, ""),
    ("/v1/encode", '{"observations": [], "extra": 1}', 422, "extra"),
    ("/v1/encode", '{"observations": []}', 400, "shape"),
    ("/v1/predict", '{"actions": [[[0, 0]]]}', 400, "exactly one"),
    (
        "/v1/predict",
        '{"latents": [[[NaN, 0, 0, 0, 0, 0, 0, 0]]], "actions": [[[0, 0]]]}',
        400,
        "NaN",
    ),
    ("/v1/predict", '{"latents": [[[1e39, 0, 0, 0, 0, 0, 0, 0]]], "actions": [[[0, 0]]]}', 400, ""),
    (
        "/v1/predict",
        '{"latents": [[[0, 0, 0, 0, 0, 0, 0, 0]]], "actions": [[[0, Infinity]]]}',
        400,
        "",
    ),
    ("/v1/predict", '{"latents": [[[0, 0, 0, 0, 0, 0, 0, 0]]], "actions": [[[0, 0, 0]]]}', 400, ""),
    ("/v1/surprise", '{"observations": [[[[[0]]]]], "actions": []}', 400, ""),
    ("/v1/plan", '{"observation": [], "goal": []}', 400, ""),
    ("/v1/plan", '{"observation": "", "goal": "", "seed": -1}', 422, "seed"),
    ("/v1/plan", '{"observation": "", "goal": "", "seed": "1"}', 422, "seed"),
    ("/v1/plan", '{"observation": "", "goal": "", "budget": {"samples": 0}}', 422, "samples"),
    ("/v1/plan", '{"observation": "", "goal": "", "budget": {"horizon": 1000}}', 400, "horizon"),
    ("/v1/plan", '{"observation": "", "goal": "", "graph": "yes"}', 422, "graph"),
    (
        "/v1/plan",
        '{"observation": "", "goal": "", "budget": {"samples": 1024, "iterations": 32}}',
        400,
        "samples x iterations x horizon",
    ),
    ("/nowhere", "{}", 404, ""),
]


@pytest.mark.parametrize(("path", "body", "status", "message"), HOSTILE)
def test_hostile_requests_get_a_clear_4xx(server, path, body, status, message):
    got, answer = server.post(path, body)
    assert got == status, answer
    assert isinstance(answer, dict) and list(answer) == ["error"]
    assert "\n" not in answer["error"] and "Traceback" not in answer["error"]
    assert message.lower() in answer["error"].lower()


def test_png_checks_and_the_server_keeps_serving(server, raw_send):
    ok = png(frames(1)[0])
    status, _ = server.post("/v1/encode", f'{{"observations": ["{ok}"]}}')
    assert status == 200
    for bad, message in (
        (_png_bomb(50_000, 50_000), "50000x50000 PNG"),
        (png(np.zeros((SIZE + 1, SIZE, 3), np.uint8)), "16x17 PNG"),
        (ok[: len(ok) // 2 // 4 * 4], "not a readable PNG"),
    ):
        status, body = server.post("/v1/encode", f'{{"observations": ["{bad}"]}}')
        assert status == 400 and message in body["error"], body
    # wrong method, then normal service continues
    assert raw_send(server.port, "GET", "/v1/plan")[0] == 405
    with Client(server.url, TOKEN) as c:
        assert c.health()["status"] == "ok"
        assert c.plan(frames(1)[0], frames(1, 9)[0]).actions.shape == (5, 2)


def test_no_request_opens_a_path(server, raw_send, tmp_path):
    """Paths inside requests are data, never files: an audit hook sees every open()."""
    secret = tmp_path / "secret.png"
    secret.write_bytes(base64.b64decode(png(frames(1)[0])))
    opened: list[str] = []
    watching = [True]

    def hook(event, args):
        if watching[0] and event == "open" and args and "secret" in str(args[0]):
            opened.append(str(args[0]))

    sys.addaudithook(hook)  # cannot be removed; the flag switches it off
    try:
        s = str(secret)
        for path, body in (
            ("/v1/encode", {"observations": [s]}),
            ("/v1/encode", {"observations": {"dtype": "uint8", "shape": [1], "data": s}}),
            ("/v1/plan", {"observation": s, "goal": "file://" + s}),
            ("/v1/plan", {"observation": s, "goal": s, "checkpoint": s, "dataset": s}),
            ("/v1/surprise", {"observations": [[s, s]], "actions": s}),
            ("/v1/predict", {"latents": s, "actions": [[[0, 0]]]}),
        ):
            import json

            status, _ = server.post(path, json.dumps(body))
            assert 400 <= status < 500
        status, _ = raw_send(server.port, "GET", "/" + s)
        assert status == 404
    finally:
        watching[0] = False
    assert opened == []


def test_sensors_model_floats_and_overflow(sensors_ckpt, serve_app):
    from amiwm.serving.app import create_app

    srv = serve_app(create_app(sensors_ckpt))
    with Client(srv.url) as c:
        x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype(np.float32)
        assert c.encode(x).shape == (2, 8)
        plan = c.plan(x[0], x[1], horizon=3)
        assert plan.actions.shape == (3, 1) and (np.abs(plan.actions) <= 1).all()
        with pytest.raises(AmiError, match="400.*NaN or Inf"):
            c.encode(np.full((1, 4, 3), np.inf, np.float32))
        with pytest.raises(AmiError, match="400.*not finite"):
            c.encode(np.full((1, 4, 3), 3e38, np.float32))  # finite in, overflow inside
        with pytest.raises(AmiError, match="400.*not a string"):
            c.request("POST", "/v1/encode", {"observations": png(frames(1)[0])})
        assert c.health()["model"]["modality"] == "sensors"


def test_openapi_documents_the_api(server, raw_send):
    status, spec = raw_send(server.port, "GET", "/openapi.json", headers={"Authorization": None})
    assert status == 200
    for path in ("/v1/encode", "/v1/predict", "/v1/plan", "/v1/surprise", "/healthz", "/metrics"):
        assert path in spec["paths"]
    plan = spec["components"]["schemas"]["PlanRequest"]
    assert {"observation", "goal", "budget", "seed", "graph"} <= set(plan["properties"])
    assert "base64 PNG" in plan["properties"]["observation"]["description"]
    assert "401" in spec["paths"]["/v1/plan"]["post"]["responses"]
    status, page = raw_send(server.port, "GET", "/docs", headers={"Authorization": None})
    assert status == 200 and "swagger" in page.lower()


def test_camera_sized_frames_are_fitted_as_the_importer_did(serve_app, tmp_path):
    """A model trained on 24x32 camera frames (cropped to 16x16) takes the camera's frames,
    raw or PNG, and encodes them as the fitted frames; other sizes are a 400 naming both."""
    from amiwm.frames import fit_frames
    from amiwm.serving.app import create_app

    torch.manual_seed(0)
    from amiwm.config import ModelConfig

    c = ModelConfig(obs_shape=[SIZE, SIZE, 3], latent_dim=8, encoder_width=8, history=2,
                    action_low=[-1.0, -1.0], action_high=[1.0, 1.0],
                    camera_shape=[24, 32, 3], resize="crop")  # fmt: skip
    model = WorldModel(c).eval()
    ckpt = model.save_pretrained(tmp_path / "cam")
    cam = np.random.default_rng(1).integers(0, 256, (2, 24, 32, 3), dtype=np.uint8)
    want = model.encode(torch.from_numpy(fit_frames(cam, (SIZE, SIZE), "crop"))).detach().numpy()
    srv = serve_app(create_app(ckpt))
    with Client(srv.url) as cl:
        np.testing.assert_allclose(cl.encode(cam), want, atol=1e-5)
        np.testing.assert_allclose(
            cl.encode(frames(2)), model.encode(frames(2)).detach(), atol=1e-5
        )
        got = cl.request("POST", "/v1/encode", {"observations": [png(cam[0]), png(cam[1])]})
        assert np.asarray(got["latents"]).shape == (2, 8)
        assert cl.plan(cam[0], cam[1], horizon=2).actions.shape == (2, 2)
        with pytest.raises(AmiError, match=r"400.*expected \(B, 16, 16, 3\) or \(B, 24, 32, 3\)"):
            cl.encode(np.zeros((1, 20, 20, 3), np.uint8))
