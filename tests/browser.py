"""Headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
NUL-separated JSON on file descriptors 3 and 4), so no websocket library is needed."""
import json
import os
import select
import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WAIT = 60


class Browser:
    def __init__(self, profile: Path):
        commands_r, self._commands = os.pipe()  # we write, Chromium reads on fd 3
        self._replies, replies_w = os.pipe()  # Chromium writes on fd 4, we read
        args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-pipe",
                f"--user-data-dir={profile}", "about:blank"]
        # bash puts the pipe ends on fds 3 and 4, which Chromium expects, then becomes Chromium
        self.process = subprocess.Popen(["bash", "-c", f'exec "$@" 3<&{commands_r} 4>&{replies_w}', "chromium", *args],
                                        pass_fds=(commands_r, replies_w), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(commands_r)
        os.close(replies_w)
        self._buffer, self._id, self.events = b"", 0, []
        self.session = None

    def send(self, method: str, params: dict | None = None, page: bool = True) -> dict:
        """A command's result; events that arrive meanwhile are kept in self.events."""
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if page and self.session:
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._next()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        """The first event `method` not yet taken."""
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._next())

    def _next(self) -> dict:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._replies], [], [], WAIT)
            chunk = os.read(self._replies, 1 << 16) if ready else b""
            if not chunk:
                raise RuntimeError("Chromium stopped answering" if ready else f"no answer from Chromium in {WAIT} s")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def open(self, url: str) -> None:
        """A new tab at `url`, its page loaded; later commands go to it."""
        target = self.send("Target.createTarget", {"url": "about:blank"}, page=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, page=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")

    def run(self, script: str):
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        result = self.send("Runtime.evaluate", {"expression": script, "awaitPromise": True, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{script}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def until(self, condition: str):
        """Wait in the page until the expression is truthy; its value."""
        return self.run(f"new Promise((done) => {{ const check = () => {{ const v = ({condition}); "
                        f"if (v) done(v); else setTimeout(check, 10); }}; check(); }})")

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions, and browser log entries (CSP, failed loads)."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(str(params["exceptionDetails"]))
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "warning", "assert"):
                found.append(str(params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
                found.append(params["entry"]["text"])
        return found

    def close(self) -> None:
        try:
            self.send("Browser.close", page=False)
        except RuntimeError:  # already gone: closing the pipe mid-reply
            pass
        try:
            self.process.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(WAIT)
        os.close(self._commands)
        os.close(self._replies)
