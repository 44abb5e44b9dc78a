"""Ctrl-C while the libraries load (stages/__init__.py), when nothing is written yet, ends quietly; errors.run()
hands Ctrl-C back to Python once the command starts, so that what it writes is cleaned up."""
import os
import signal
import sys


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
