"""Before any library loads (stages/__init__.py): an environment a library would crash on while it loads stops
with one message, and Ctrl-C while the libraries load, when nothing is written yet, ends quietly. errors.run()
hands Ctrl-C back to Python once the command starts, so that what it writes is cleaned up."""
import os
import signal
import sys
from urllib.parse import urlsplit

from .secrets import scrub  # a password in HF_ENDPOINT is not printed


def endpoint_problem() -> str | None:
    """Why HF_ENDPOINT, when set, is unusable: huggingface_hub parses it on import, and a bad port fails there."""
    value = os.environ.get("HF_ENDPOINT")
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        good = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        good = False
    if good:
        return None
    return (f"HF_ENDPOINT is set to {scrub(value)[:200]!r}, which is not an http(s) URL such as "
            "https://huggingface.co: unset it to use the Hub, or set it to the URL of the server that stands for it; then run the same "
            "command again.")


def check_environment() -> None:
    problem = endpoint_problem()
    if problem:  # before errors.run() exists: print its one paragraph here
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(1)


def _interrupted(signum, frame) -> None:
    print("interrupted", file=sys.stderr)
    os._exit(130)  # nothing is written before the command starts: no cleanup to run


def quiet_interrupts() -> None:
    """Only for `python -m stages.<name>` (sys.argv[0] is '-m' while Python imports the package): a program that
    imports stages, `python -c` included, keeps its own Ctrl-C (os._exit would skip its finally blocks)."""
    if sys.argv[:1] == ["-m"] and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted)


def python_interrupts() -> None:
    """Ctrl-C raises KeyboardInterrupt again, so that temp files and children are cleaned up."""
    if signal.getsignal(signal.SIGINT) is _interrupted:
        signal.signal(signal.SIGINT, signal.default_int_handler)
