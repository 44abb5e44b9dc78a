"""Before any library loads (stages/__init__.py): an environment a library would crash on while it loads stops
with one message."""
import os
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
    from . import net

    net.hub_environment()  # huggingface_hub reads its download timeouts when it is imported
    problem = endpoint_problem()
    if problem:  # before errors.run() exists: print its one paragraph here
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(1)
