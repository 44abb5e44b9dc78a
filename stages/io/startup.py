"""Before any library loads (stages/__init__.py): an environment a library would crash on while it loads stops
with one message, and Ctrl-C while the libraries load, when nothing is written yet, ends quietly. errors.run()
hands Ctrl-C back to Python once the command starts, so that what it writes is cleaned up."""
import os
import signal
import sys
from urllib.parse import urlsplit


def check_environment() -> None:
    endpoint = os.environ.get("HF_ENDPOINT")
    if not endpoint:
        return
    try:  # huggingface_hub parses it at import; a bad one is a traceback from deep inside the libraries
        parts = urlsplit(endpoint)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:
        usable = False
    if not usable:
        print(f"error: the environment variable HF_ENDPOINT is {endpoint!r}, which is not an http(s) address: "
              "unset it to use https://huggingface.co, or set it to your Hub mirror's address.", file=sys.stderr)
        sys.exit(1)


def _interrupted(signum, frame) -> None:
    print("interrupted", file=sys.stderr)
    os._exit(130)  # nothing is written before the command starts: no cleanup to run


def quiet_interrupts() -> None:
    """Only for `python -m stages.<name>` (and -c): a program that imports stages keeps its own Ctrl-C."""
    if sys.argv[:1] in (["-m"], ["-c"]) and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted)


def python_interrupts() -> None:
    """Ctrl-C raises KeyboardInterrupt again, so that temp files and children are cleaned up."""
    if signal.getsignal(signal.SIGINT) is _interrupted:
        signal.signal(signal.SIGINT, signal.default_int_handler)
