"""Serve the pipeline's models over HTTP: a JSON API, a health check, OpenAPI docs and a web page.

    python -m stages.serve                                   base, full and lora, those in models/
    python -m stages.serve --models lora --port 8080
    python -m stages.serve --models lora r4=path/to/adapter  a name for a directory: a model or an adapter

Run it from the project root: params.yaml gives data.prompt, data.max_source_length and generate.*, as for
`python -m stages.summarize`. It listens on 127.0.0.1 unless --host says otherwise. SIGTERM or Ctrl-C: it stops
accepting connections, answers the requests it has, and exits.
"""
import argparse
import re
import signal
import sys

from .data import dialogue
from .io import params
from .modeling import causal
from .io.errors import UserError, run

LOOPBACK = ("127.0.0.1", "localhost")
KEEP_ALIVE_S = 65
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m stages.serve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="default 8000; 0 picks a free one (printed)")
    p.add_argument("--models", nargs="+", metavar="MODEL",
                   help="base, full, lora, or NAME=DIR for a model or adapter directory (default: those of "
                        "base, full, lora present in models/); the first is the default model")
    p.add_argument("--max-batch", type=int, help="dialogues per engine call (default generate.batch_size)")
    p.add_argument("--max-wait-ms", type=float, default=10.0,
                   help="how long a dialogue waits for others to share its engine call (default 10)")
    p.add_argument("--queue-size", type=int, default=256,
                   help="dialogues waiting per model; beyond it requests get 503 with Retry-After (default 256)")
    p.add_argument("--max-body-bytes", type=int, default=1 << 20, help="413 beyond it (default 1 MiB)")
    p.add_argument("--max-dialogues", type=int, default=32, help="per request (default 32)")
    p.add_argument("--max-chars", type=int, default=20_000, help="per dialogue (default 20000)")
    p.add_argument("--body-timeout", type=float, default=30.0,
                   help="seconds to receive a request's body; 408 after (default 30)")
    p.add_argument("--max-connections", type=int, default=1000,
                   help="open connections and requests at once; beyond it uvicorn answers 503 (default 1000)")
    p.add_argument("--access-log", action="store_true", help="log every request")
    return p


def check(args) -> None:
    if not args.host.strip():  # uvicorn takes "" for every interface: not what an empty value means
        raise UserError("--host is empty: give an address, such as 127.0.0.1 (this machine only, the default) or "
                        "0.0.0.0 (every interface).")
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port}: give a port from 0 to 65535.")
    for option in ("max_batch", "queue_size", "max_body_bytes", "max_dialogues", "max_chars", "max_connections"):
        if getattr(args, option) < 1:
            raise UserError(f"--{option.replace('_', '-')} {getattr(args, option)}: give a whole number of at least 1.")
    for option, most in (("max_wait_ms", 60_000), ("body_timeout", 3600)):
        value = getattr(args, option)
        if not 0 <= value <= most:  # also catches nan
            raise UserError(f"--{option.replace('_', '-')} {value}: give a number from 0 to {most}.")
    if args.max_chars > dialogue.MAX_CHARS:  # the one dialogue check refuses longer ones in every door
        raise UserError(f"--max-chars {args.max_chars} is over the {dialogue.MAX_CHARS:,} characters any dialogue may "
                        "be (the model reads a few thousand): give at most that.")
    if args.body_timeout == 0:
        raise UserError("--body-timeout 0: a request needs some time to arrive; give seconds above 0.")
    if args.queue_size < args.max_dialogues:
        raise UserError(f"--queue-size {args.queue_size} is below --max-dialogues {args.max_dialogues}: a request "
                        "that the limits allow would never fit in the queue. Raise --queue-size.")


def loopback(host: str) -> bool:
    """Only this machine can connect: localhost, 127.0.0.0/8 or ::1 (no warning about other machines)."""
    import ipaddress

    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listenable(host: str, port: int) -> None:
    """Bind once before the models load (seconds to minutes): a port in use or an address that is not this
    machine's is one message now, not uvicorn's log line after the wait. Every address the name has is tried, as
    asyncio's server binds them all (localhost: 127.0.0.1 and ::1 where IPv6 is on)."""
    import errno
    import socket

    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        raise UserError(f"--host {host}: no address of that name ({getattr(error, 'strerror', None) or error}); give "
                        "an address of this machine, such as 127.0.0.1 (or ::1, without brackets).") from None
    failed, bound = None, 0
    for family, kind, proto, _, address in found:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            try:
                sock.bind(address)
                bound += 1
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    raise UserError(f"port {port} on {host} is in use, by another server or another copy of this "
                                    "one: stop it, or give another --port (--port 0 picks a free one).") from None
                failed = error
    if not bound:
        raise UserError(f"cannot listen on {host} port {port} ({failed.strerror or failed}): give an address of "
                        "this machine (127.0.0.1 by default) and a port it may use (ports below 1024 need root).")


def models(args) -> dict[str, str]:
    """{name served: what to load}: pipeline names as they are, NAME=DIR for a directory."""
    from .serving import backend

    chosen = {}
    for value in args.models or backend.present():
        name, sep, spec = value.partition("=")
        if not sep:
            name, spec = value, value
            if value not in backend.MARKERS:
                raise UserError(f"--models {value}: give base, full, lora or NAME=DIR (a name for a model or "
                                "adapter directory).")
        if not NAME.fullmatch(name):
            raise UserError(f"--models {value}: a name is letters, digits, '.', '_' or '-' (up to 64), so that "
                            "it can never be read as a path.")
        if name in chosen:
            raise UserError(f"--models: the name {name} is given twice.")
        if sep:
            from .inference import specs

            specs.kind(spec, f"--models {value}")  # before any model loads
        chosen[name] = spec
    if not chosen:
        raise UserError("no model to serve: models/ holds none of base, full, lora. Run `dvc repro` (or "
                        "`dvc pull`) from the project root, or give --models NAME=DIR.")
    return chosen


def main(argv: list[str]) -> None:
    args = parser().parse_args(argv)
    p = params.load()
    if args.max_batch is None:  # not `or`: --max-batch 0 is refused, not taken for the default
        args.max_batch = p.generate.batch_size
    check(args)
    chosen = models(args)
    listenable(args.host, args.port)

    import uvicorn

    from .serving import app, backend, limits, prompting, protocol

    backends = {}
    for name, spec in chosen.items():
        print(f"loading {name} ({spec})", file=sys.stderr, flush=True)
        backends[name] = backend.load_backend(spec, p)
    service = app.create_app(
        backends, prompting.Prompter(p.data, {name: served.tokenizer for name, served in backends.items()},
                                     causal.chat_setting(p)),
        limits.Limits(args.max_body_bytes, args.max_dialogues, args.max_chars, args.body_timeout),
        app.Batching(args.max_batch, args.max_wait_ms / 1000, args.queue_size),
        allowed_hosts=[*LOOPBACK, args.host] if loopback(args.host) else None)
    if not loopback(args.host):
        print(f"warning: listening on {args.host}: anyone who can reach this machine can use the models; there "
              "is no authentication.", file=sys.stderr)
    server = uvicorn.Server(protocol.config(service, host=args.host, port=args.port, access_log=args.access_log,
                                            limit_concurrency=args.max_connections,
                                            # longer than clients keep an idle connection (httpx: 5 s), so the
                                            # server never closes one just as a client sends on it again
                                            timeout_keep_alive=KEEP_ALIVE_S))
    # uvicorn handles SIGTERM gracefully, then raises it again once done: ours makes that a clean exit 0, and a
    # SIGTERM that comes before uvicorn listens still stops it.
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    server.run()


if __name__ == "__main__":
    run(main, sys.argv[1:])
