"""Errors a user can fix, printed as one paragraph instead of a traceback."""
import sys


class UserError(Exception):
    """Bad params, bad data, a wrong path: the message says what to do."""


class ParamsError(UserError):
    def __init__(self, key: str, message: str):
        super().__init__(f"params.yaml: {key}: {message}")
        self.key = key


def run(main, *args) -> None:
    """Run a stage's main(); turn a UserError into one message and exit code 1."""
    try:
        main(*args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
