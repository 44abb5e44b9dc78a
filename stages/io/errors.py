"""Errors a user can fix, printed as one paragraph instead of a traceback; every message and traceback printed
here has its credentials removed (stages/io/secrets.py) and its control characters escaped (stages/io/text.py)."""
import sys

from .startup import python_interrupts
from .secrets import scrub, scrub_logs
from .text import terminal


def _no_hint() -> str:
    return ""


hint = _no_hint  # what run() adds to a message: stages/io/stage.py sets it (how to restore what DVC deleted)


class UserError(Exception):
    """Bad params, bad data, a wrong path: the message says what to do."""


class ParamsError(UserError):
    def __init__(self, key: str, message: str):
        super().__init__(f"params.yaml: {key}: {message}")
        self.key = key


def run(main, *args) -> None:
    """Run a stage's main(); turn a UserError into one message and exit code 1."""
    python_interrupts()
    sys.excepthook = _scrubbed_traceback
    scrub_logs()
    try:
        main(*args)
    except UserError as error:
        message, extra = str(error), hint()
        if extra and extra.strip() not in message:
            message += extra
        # On a terminal a progress bar may be mid-line: start the message on a line of its own.
        print(f"{chr(10) if sys.stderr.isatty() else ''}error: {shown(message)}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def shown(message: str) -> str:
    """A message as it may be printed: no credentials, and one paragraph: a line break in it (text from a file or
    a tool's output) becomes a space, other control characters (ESC, CR) are escaped, so nothing in it can
    forge a line of its own or move the cursor."""
    return terminal(" ".join(scrub(message).split("\n")))


def _scrubbed_traceback(kind, value, trace) -> None:
    """A bug's traceback, as Python prints it, less any credentials and control characters in its messages."""
    import traceback

    sys.stderr.write(terminal(scrub("".join(traceback.format_exception(kind, value, trace))), keep_lines=True))


def pull_hint(what: str = "to fetch the outputs") -> str:
    """', or run `dvc pull` ...' where a dvc.lock says there is something to pull; '' elsewhere."""
    from pathlib import Path

    return f", or run `dvc pull` {what}" if Path("dvc.lock").is_file() else ""
