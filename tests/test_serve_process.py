"""`python -m stages.serve` as a real process in a project copy with the tiny model: malformed HTTP gets JSON,
/health shows no path, and SIGTERM in the middle of a request stops it listening, answers that request in full,
and exits 0."""
import json
import re
import shutil
import signal
import socket
import subprocess
import sys

from live import WAIT, response, until
from project import env, make_project
from servers import port_open, stop


def test_sigterm_mid_request_answers_it_then_exits_0(tmp_path, tiny_model, tiny_corpus):
    repo = make_project(tmp_path / "repo", tiny_model, tiny_corpus)
    shutil.copytree(tiny_model, repo / "models" / "base")
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "stages.serve", "--port", "0", "--models", "base",
                                    f"mine={tiny_model.resolve()}"],
                                   cwd=repo, env=env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        def listening():
            assert process.poll() is None, log.read_text()
            return re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", log.read_text())
        until(listening, "the server to listen", timeout=180)
        port = int(listening().group(1))

        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:  # the protocol serve.py sets
            sock.sendall(b"POST /summarize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n")
            status, raw = response(sock)
        assert status == 400 and json.loads(raw.partition(b"\r\n\r\n")[2])["detail"].startswith(
            "not a valid HTTP/1.1 request (bad Content-Length)"), raw
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status, raw = response(sock)
        health = raw.partition(b"\r\n\r\n")[2].decode()
        assert status == 200 and list(json.loads(health)["models"]) == ["base", "mine"]
        assert str(tiny_model.resolve()) not in health and str(tmp_path) not in health, health

        body = json.dumps({"dialogues": ["#Person1#: Good morning, welcome to the bank.\n#Person2#: Hello."]})
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
            sock.sendall(f"POST /summarize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode())
            # 100 Continue: the app is reading this request's body, so the request is in flight
            assert sock.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"
            process.send_signal(signal.SIGTERM)
            until(lambda: not port_open(port), "the server to stop listening")
            sock.sendall(body.encode())  # the rest of the request arrives after shutdown began
            status, raw = response(sock)
        assert status == 200, raw
        answer = json.loads(raw.partition(b"\r\n\r\n")[2])
        assert answer["model"] == "base" and isinstance(answer["summaries"][0]["summary"], str)
        assert process.wait(WAIT) == 0
        text = log.read_text()
        assert "Finished server process" in text and "Traceback" not in text and "Error" not in text, text
    finally:
        stop(process)
