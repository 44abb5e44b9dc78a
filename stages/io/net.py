"""The one door to the network: the timeout every call to the Hub gets, and the one way to say that a server
could not be reached.

huggingface_hub's shared HTTP client has no timeout by default (utils/_http.py, default_client_factory:
timeout=None), so a Hub that accepts the connection and never answers hangs a command forever. configure_hub()
installs, through huggingface_hub's own set_client_factory(), a client that gives up after timeout_s() without
progress (connect, read, write or a free connection each; progress is PROGRESS_BYTES moved, so a server that drips
a byte at a time ends the call too), also in the calls that ask for no timeout; the calls
that pass a timeout of their own (hf_hub_download's HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT, 10 s unless
set) keep it. STAGES_NET_TIMEOUT (seconds) sets it; it is a time without progress, not a limit on a long upload.
A server that let one request time out fails the command's later requests at once (_transport()).

Every message printed here has its credentials removed (stages/io/secrets.py).
"""
import math
import os

from .errors import UserError
from .secrets import scrub

VARIABLE = "STAGES_NET_TIMEOUT"
DEFAULT_S = 60.0


def timeout_s() -> float:
    """Seconds a network call may go without progress: STAGES_NET_TIMEOUT, or 60."""
    value = os.environ.get(VARIABLE)
    if value is None or not value.strip():
        return DEFAULT_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 < seconds <= 86_400):
        raise UserError(f"{VARIABLE} is {value[:40]!r}: give the seconds a network call may wait without an answer, "
                        f"a number above 0 and at most 86400 (default {DEFAULT_S:g}), or unset it.")
    return seconds


def hub_environment() -> None:
    """Before huggingface_hub is imported (stages/io/startup.py): with STAGES_NET_TIMEOUT set, its own download
    timeouts follow it, unless HF_HUB_ETAG_TIMEOUT / HF_HUB_DOWNLOAD_TIMEOUT are set themselves."""
    try:
        seconds = timeout_s()
    except Exception:  # noqa: BLE001 - the command says what is wrong with it when it first reaches the network
        return
    if os.environ.get(VARIABLE):
        for name in ("HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT"):
            os.environ.setdefault(name, str(max(1, math.ceil(seconds))))  # huggingface_hub reads whole seconds


_configured: float | None = None


def _bounded(request) -> None:
    """A request hook: each of its timeouts that is None (none) becomes timeout_s(). huggingface_hub passes
    timeout=None itself in some calls (repo_info, model_info, as transformers' resolve_revision makes them), and
    a request's own timeout overrides the client's, so the client's default alone would not reach those."""
    seconds = timeout_s()
    limits = request.extensions.get("timeout") or {}
    request.extensions = {**request.extensions, "timeout": {
        key: seconds if limits.get(key) is None else limits[key] for key in ("connect", "read", "write", "pool")}}


_silent: set[tuple] = set()  # (scheme, host, port) of each server that let a request time out in this process


def _unanswered():
    """The error for a request to a server that already let one time out: huggingface_hub takes it as it takes
    offline mode (its own cached copy where it has one, no retry: it retries a timeout up to 5 times, 60 s each
    and per file, so a silent Hub held `prepare` for the better part of an hour); our messages read it as a
    timeout."""
    from huggingface_hub.errors import OfflineModeIsEnabled

    class Unanswered(OfflineModeIsEnabled, TimeoutError):
        pass

    return Unanswered


def _transport():
    """httpx's own transport, which remembers a server that let a request time out and fails every later request
    to it at once: one timeout per command, not one per file and retry."""
    import httpx2  # the HTTP client huggingface_hub 2 is built on

    unanswered = _unanswered()

    class OneTimeout(httpx2.HTTPTransport):
        def handle_request(self, request):
            server = (request.url.scheme, request.url.host, request.url.port)
            if server in _silent:
                raise unanswered(f"{request.url.host} gave no answer in {timeout_s():g} s earlier in this command")
            try:
                return super().handle_request(request)
            except httpx2.TimeoutException:
                _silent.add(server)
                raise

    transport = OneTimeout()
    # httpx takes no network backend of its own; its pool (and a proxy's) reads this attribute for each connection
    transport._pool._network_backend = _progressing_backend()
    return transport


PROGRESS_BYTES = 1024  # what counts as progress: a server that sends less than this per timeout has not answered


def _progressing_backend():
    """httpcore's own socket backend, whose streams count a wait as progress only once PROGRESS_BYTES have moved:
    a server that drips a byte per second (within any per-read timeout) still ends the call after timeout_s(). The
    time is counted while reading or writing only, and starts again with each request written."""
    import time

    import httpcore2

    class Stream(httpcore2.NetworkStream):
        def __init__(self, stream):
            self._stream, self._waited, self._moved = stream, 0.0, 0

        def _timed(self, call, timeout, size, error):
            limit = timeout if timeout is not None else timeout_s()
            left = limit - self._waited
            if left <= 0:
                raise error(f"less than {PROGRESS_BYTES} bytes in {limit:g} s")
            start = time.monotonic()
            try:
                result = call(left)
            finally:
                self._waited += time.monotonic() - start
            self._moved += size(result)
            if self._moved >= PROGRESS_BYTES:
                self._waited, self._moved = 0.0, 0
            return result

        def read(self, max_bytes, timeout=None):
            return self._timed(lambda left: self._stream.read(max_bytes, left), timeout, len, httpcore2.ReadTimeout)

        def write(self, buffer, timeout=None):
            self._waited, self._moved = 0.0, 0  # a request (or the next piece of its body): a new wait
            view = memoryview(buffer)
            for start in range(0, len(view), PROGRESS_BYTES):
                piece = view[start:start + PROGRESS_BYTES]
                self._timed(lambda left: self._stream.write(piece, left), timeout, lambda _: len(piece),
                            httpcore2.WriteTimeout)

        def close(self):
            self._stream.close()

        def start_tls(self, ssl_context, server_hostname=None, timeout=None):
            return Stream(self._stream.start_tls(ssl_context, server_hostname, timeout))

        def get_extra_info(self, info):
            return self._stream.get_extra_info(info)

    class Backend(httpcore2.SyncBackend):
        def connect_tcp(self, *args, **kwargs):
            return Stream(super().connect_tcp(*args, **kwargs))

        def connect_unix_socket(self, *args, **kwargs):
            return Stream(super().connect_unix_socket(*args, **kwargs))

    return Backend()


def _client():
    """huggingface_hub's default client (utils/_http.py, default_client_factory: its request hook, redirects
    followed), with our timeout, _bounded() and the transport above."""
    import httpx2
    from huggingface_hub.utils import _http

    return httpx2.Client(event_hooks={"request": [_http.hf_request_event_hook, _bounded]}, follow_redirects=True,
                         timeout=timeout_s(), transport=_transport())


def configure_hub() -> float:
    """Every later huggingface_hub call (ours, transformers', datasets') gets timeout_s(); returns it. Call it
    before the first request: HfApi, hf_hub_download and from_pretrained share this client."""
    global _configured
    seconds = timeout_s()
    if _configured != seconds:
        from huggingface_hub import set_client_factory

        set_client_factory(_client)  # closes a client made before, so the next request uses the new one
        _configured = seconds
    return seconds


def causes(error: BaseException):
    """The error and every error it was raised from or during, once each."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def timed_out(error: BaseException) -> bool:
    """A network call that got no answer in time (httpx's ReadTimeout, ConnectTimeout..., or a socket's)."""
    return any(type(e).__name__.endswith("Timeout") or isinstance(e, TimeoutError) for e in causes(error))


def reason(error: BaseException) -> str:
    """Why a call failed, in a few words: 'no answer in 60 s', or the error's type and first line."""
    if timed_out(error):
        return f"no answer in {timeout_s():g} s"
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:300]}" if text else type(error).__name__


def unreachable(what: str, error: BaseException, advice: str) -> str:
    """The one message for a server that could not be reached: 'could not reach X: reason; what to do'."""
    more = f" ({VARIABLE} sets how long to wait)" if timed_out(error) else ""
    return scrub(f"could not reach {what}: {reason(error)}{more}; {advice}")


def shown_url(url: str) -> str:
    """A URL to print: its user info (a password) replaced."""
    return scrub(url)
