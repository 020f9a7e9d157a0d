"""Hypothesis throws generated hostile bodies at every endpoint of a real server.

Whatever arrives, the answer is < 500, errors are {"error": "<one line>"}, and the server
still answers /healthz afterwards.
"""

import base64
import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ENDPOINTS = {
    "/v1/encode": ("observations", "states"),
    "/v1/predict": ("latents", "observations", "actions", "states"),
    "/v1/surprise": ("observations", "actions", "states"),
    "/v1/plan": (
        "observation",
        "goal",
        "budget",
        "seed",
        "graph",
        "state",
        "goal_state",
        "free_state",
    ),
}
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["/etc/passwd", "../../model.safetensors", "data:image/png;base64,AAAA"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=30,
)


@st.composite
def arrays(draw):
    """Arrays of plausible and implausible shapes/dtypes, as nested lists or raw arrays."""
    lead = draw(st.lists(st.sampled_from([0, 1, 2, 3]), max_size=2))
    tail = st.lists(st.sampled_from([0, 1, 2, 3, 8, 16]), max_size=3)
    dims = lead + draw(st.sampled_from([[16, 16, 3], [8], [2]]) | tail)  # model sizes, or not
    kind = draw(st.sampled_from(["uint8", "int", "float", "float-bad"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind == "uint8":
        arr = rng.integers(0, 256, dims, dtype=np.uint8)
    elif kind == "int":
        arr = rng.integers(-1000, 1000, dims)
    else:
        arr = rng.normal(size=dims) * draw(st.sampled_from([1.0, 1e20, 1e300]))
        if kind == "float-bad" and arr.size:
            arr.flat[0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    if draw(st.booleans()):
        return arr.tolist()
    dtype = {"uint8": "uint8", "int": "float64"}.get(
        kind, draw(st.sampled_from(["float32", "float64"]))
    )
    with np.errstate(over="ignore", invalid="ignore"):
        data = arr.astype(dtype).tobytes()
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]  # truncated
    shape = (
        list(arr.shape) if draw(st.booleans()) else draw(st.lists(st.integers(-2, 20), max_size=4))
    )
    return {"dtype": dtype, "shape": shape, "data": base64.b64encode(data).decode()}


@st.composite
def shaped(draw, shape, frames=False):
    """An array of (almost) the right shape with hostile values: the model is reached."""
    shape = list(shape)
    if draw(st.integers(0, 4)) == 0:  # sometimes one size is off
        i = draw(st.integers(0, len(shape) - 1))
        shape[i] = max(0, shape[i] + draw(st.sampled_from([-1, 1])))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if frames and draw(st.booleans()):
        arr = rng.integers(0, 256, shape, dtype=np.uint8)
        return {"dtype": "uint8", "shape": shape, "data": base64.b64encode(arr).decode()}
    scale = draw(st.sampled_from([1.0, 1e3, 1e20, 1e38, 1e300]))
    arr = rng.normal(size=shape) * scale
    if frames:
        arr = np.rint(np.abs(arr)).clip(0, 300) if scale < 1e20 else arr
    if arr.size and draw(st.integers(0, 3)) == 0:
        arr.flat[draw(st.integers(0, arr.size - 1))] = draw(st.sampled_from([np.nan, np.inf]))
    if frames and np.isfinite(arr).all() and np.abs(arr).max(initial=0) < 2**62:
        return arr.astype(np.int64).tolist()
    return arr.tolist()


def near_valid(path):
    """Bodies with every field present and shaped for the 16x16 frames model."""
    b, h = st.integers(1, 3), st.integers(1, 3)
    f = (16, 16, 3)
    if path == "/v1/encode":
        return b.flatmap(lambda n: st.fixed_dictionaries({"observations": shaped((n, *f), True)}))
    if path == "/v1/predict":
        return st.tuples(b, h, h).flatmap(
            lambda t: st.fixed_dictionaries(
                {"latents": shaped((t[0], t[1], 8)), "actions": shaped((t[0], t[1] + t[2] - 1, 2))}
            )
        )
    if path == "/v1/surprise":
        return st.tuples(b, h).flatmap(
            lambda t: st.fixed_dictionaries(
                {"observations": shaped((t[0], t[1] + 1, *f), True), "actions": shaped((*t, 2))}
            )
        )
    budget = st.fixed_dictionaries(
        {},
        optional={k: st.integers(-2, 40) for k in ("samples", "elites", "iterations", "horizon")},
    )
    return st.fixed_dictionaries(
        {"observation": shaped(f, True), "goal": shaped(f, True)},
        optional={"budget": budget, "seed": st.integers(-1, 2**64), "graph": st.booleans()},
    )


def bodies(path):
    fields = ENDPOINTS[path]
    value = st.one_of(arrays(), json_values)
    typed = st.fixed_dictionaries({}, optional={f: value for f in fields})
    return st.one_of(near_valid(path), typed, json_values)


def check(server, path, body, raw=False):
    data = body if raw else json.dumps(body)  # Python's json writes NaN/Infinity literals
    status, answer = server.post(path, data)
    assert status < 500, (path, data[:300], answer)
    if status >= 400:
        assert isinstance(answer, dict) and set(answer) == {"error"}, answer
        assert "\n" not in answer["error"] and len(answer["error"]) <= 300


@SETTINGS
@given(body=bodies("/v1/encode"))
def test_fuzz_encode(server, body):
    check(server, "/v1/encode", body)


@SETTINGS
@given(body=bodies("/v1/predict"))
def test_fuzz_predict(server, body):
    check(server, "/v1/predict", body)


@SETTINGS
@given(body=bodies("/v1/surprise"))
def test_fuzz_surprise(server, body):
    check(server, "/v1/surprise", body)


@SETTINGS
@given(body=bodies("/v1/plan"))
def test_fuzz_plan(server, body):
    check(server, "/v1/plan", body)


@SETTINGS
@given(path=st.sampled_from(sorted(ENDPOINTS)), data=st.binary(max_size=200))
def test_fuzz_raw_bytes(server, path, data):
    check(server, path, data, raw=True)


def test_server_still_healthy_after_fuzzing(server, raw_send):
    status, health = raw_send(server.port, "GET", "/healthz")
    assert status == 200 and health["status"] == "ok"
    status, text = raw_send(server.port, "GET", "/metrics")
    assert status == 200 and 'status="500"' not in text
