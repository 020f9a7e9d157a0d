"""`ami-cli serve`: refusals with one-line errors, a real subprocess server, TLS."""

import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from amiwm.cli import main
from amiwm.client import Client
from amiwm.errors import AmiError


def token_file(tmp_path, text="s3cret-token-for-tests-0123456789"):
    path = tmp_path / "token"
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def run_cli(capsys, *args):
    code = main(["serve", *map(str, args)])
    return code, capsys.readouterr().err


def test_refusals(frames_ckpt, tmp_path, capsys):
    code, err = run_cli(capsys, "--checkpoint", frames_ckpt, "--host", "0.0.0.0", "--port", 0)
    assert code == 1 and "non-loopback" in err and "--token-file" in err and "--insecure" in err
    short = token_file(tmp_path, "short")
    code, err = run_cli(capsys, "--checkpoint", frames_ckpt, "--token-file", short, "--port", 0)
    assert code == 1 and ">= 16 characters" in err
    code, err = run_cli(capsys, "--checkpoint", tmp_path / "missing", "--port", 0)
    assert code == 1 and "checkpoint not found" in err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        code, err = run_cli(capsys, "--checkpoint", frames_ckpt, "--port", port)
    assert code == 1 and f"cannot listen on 127.0.0.1:{port}" in err
    assert err.count("\n") == 1  # one line


def read_line(proc, timeout=60.0) -> str:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sel.select(0.2):
            return proc.stdout.readline()
        assert proc.poll() is None, proc.stderr.read()
    raise AssertionError("server printed nothing")


def test_subprocess_server_with_token(frames_ckpt, tmp_path):
    tok = token_file(tmp_path)
    cmd = [sys.executable, "-m", "amiwm.cli", "serve", "--checkpoint", str(frames_ckpt)]
    cmd += ["--port", "0", "--token-file", str(tok), "--threads", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = read_line(proc)
        assert "http://127.0.0.1:" in line, line
        url = line.split()[-1]
        rng = np.random.default_rng(0)
        obs = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
        with Client(url, tok.read_text().strip()) as c:
            plan = c.plan(obs[0], obs[1])
            assert plan.actions.shape == (5, 2) and c.health()["graph_nodes"] > 0
        with Client(url) as c, pytest.raises(AmiError, match="401"):
            c.plan(obs[0], obs[1])
        proc.send_signal(signal.SIGTERM)
        # graceful: uvicorn drains, logs, then re-raises the signal (newer versions)
        assert proc.wait(30) in (0, -signal.SIGTERM)
        assert "Finished server process" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_https(frames_ckpt, tmp_path, serve_app, token):
    from amiwm.serving.app import create_app

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        env={**os.environ, "RANDFILE": str(tmp_path / ".rnd")},
    )
    srv = serve_app(create_app(frames_ckpt, token), ssl_certfile=str(cert), ssl_keyfile=str(key))
    assert srv.url.startswith("https://")
    with Client(srv.url, token, ca_file=str(cert)) as c:
        assert c.encode(np.zeros((1, 16, 16, 3), np.uint8)).shape == (1, 8)
    with Client(srv.url, token) as c, pytest.raises(AmiError, match="cannot reach"):
        c.health()  # an unknown self-signed certificate is refused
