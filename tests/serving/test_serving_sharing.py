"""One Client shared by threads; a 413 that a client writing its whole body first still reads."""

import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

from amiwm.client import Client
from amiwm.errors import AmiError

SIZE = 16
TOKEN = "test-token-0123456789abcdef"


def test_one_client_shared_by_8_threads(server):
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 256, (8, 5, SIZE, SIZE, 3), dtype=np.uint8)
    failures: list[str] = []
    results: dict[tuple[int, int], tuple[float, ...]] = {}
    barrier = threading.Barrier(8)
    with Client(server.url, TOKEN) as shared:
        expected = [
            shared.plan(obs[i, 0], obs[i, 1], samples=16, iterations=2).actions for i in range(8)
        ]

        def work(i: int) -> None:
            barrier.wait()
            for k in range(6):
                try:
                    if k % 3 == 2:
                        z = shared.encode(obs[i])
                        assert z.shape == (5, 8)
                        continue
                    p = shared.plan(obs[i, 0], obs[i, 1], samples=16, iterations=2)
                    results[(i, k)] = tuple(p.actions.ravel())
                    np.testing.assert_allclose(p.actions, expected[i], atol=1e-5)
                except (AmiError, AssertionError) as exc:
                    failures.append(f"thread {i} call {k}: {exc}")

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert not failures, failures[:3]
    assert len(results) == 8 * 4  # every plan answered, each with its own thread's actions


def test_connections_must_be_positive():
    with pytest.raises(AmiError, match="connections"):
        Client("http://127.0.0.1:1", connections=0)


def test_refused_connection_is_one_line():
    with pytest.raises(AmiError, match="cannot reach"):
        Client("http://127.0.0.1:1", timeout=2).health()


def _post(url: str, body: bytes) -> urllib.request.Request:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    return urllib.request.Request(url + "/v1/encode", body, headers, method="POST")


def test_oversize_body_answers_413_to_urllib(server):
    """urllib writes the whole body before reading: it must still read the 413, not a reset."""
    big = b'{"observations": [' + b"0," * (5 << 20) + b"0]}"  # 10 MiB > the 4 MiB limit
    for _ in range(3):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(_post(server.url, big), timeout=30)
        assert err.value.code == 413
        assert "exceeds the server limit" in json.loads(err.value.read())["error"]
    wrong = _post(server.url, big)
    wrong.add_header("Authorization", "Bearer wrong-token-0123456789abcdef")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(wrong, timeout=30)
    assert err.value.code == 401
    with Client(server.url, TOKEN) as c:
        assert c.health()["status"] == "ok"
    # the Client gets the same 413 as a one-line error
    with Client(server.url, TOKEN) as c, pytest.raises(AmiError, match="413"):
        c.request("POST", "/v1/encode", {"observations": [0] * (3 << 20)})
