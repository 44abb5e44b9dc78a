"""`python -m stages.serve` options: what it serves by default, and one message for each bad option."""
import pytest

from stages import serve
from stages.io.errors import UserError


def options(*argv):
    return serve.parser().parse_args(list(argv))


def test_defaults_listen_on_loopback_and_serve_the_models_present(in_tmp):
    args = options()
    assert (args.host, args.port, args.max_wait_ms, args.queue_size) == ("127.0.0.1", 8000, 10.0, 256)
    with pytest.raises(UserError, match="no model to serve: models/ holds none of base, full, lora"):
        serve.models(args)
    (in_tmp / "models/lora").mkdir(parents=True)
    (in_tmp / "models/lora/adapter_config.json").write_text("{}")
    with pytest.raises(UserError, match="no model to serve"):  # an adapter without its base is not servable
        serve.models(args)
    for name in ("base", "full"):
        (in_tmp / "models" / name).mkdir()
        (in_tmp / "models" / name / "config.json").write_text("{}")
    assert serve.models(args) == {"base": "base", "full": "full", "lora": "lora"}
    with pytest.raises(UserError, match=r"^--models r4=runs/r4/adapter: not base, full or lora, nor a directory"):
        serve.models(options("--models", "lora", "r4=runs/r4/adapter"))
    (in_tmp / "runs/r4/adapter").mkdir(parents=True)
    (in_tmp / "runs/r4/adapter/adapter_config.json").write_text("{}")
    assert serve.models(options("--models", "lora", "r4=runs/r4/adapter")) == {"lora": "lora",
                                                                               "r4": "runs/r4/adapter"}


@pytest.mark.parametrize("given, message", [
    ("../models/base", "give base, full, lora or NAME=DIR"),
    ("models/base", "give base, full, lora or NAME=DIR"),
    ("../x=models/base", "so that it can never be read as a path"),
    ("a b=models/base", "so that it can never be read as a path"),
    ("=models/base", "so that it can never be read as a path"),
])
def test_a_served_name_is_never_a_path(given, message):
    with pytest.raises(UserError, match=message):
        serve.models(options("--models", given))
    with pytest.raises(UserError, match="the name base is given twice"):
        serve.models(options("--models", "base", "base=models/full"))


@pytest.mark.parametrize("argv, message", [
    (["--port", "70000"], "--port 70000: give a port from 0 to 65535"),
    (["--max-batch", "0"], "--max-batch 0: give a whole number of at least 1"),
    (["--queue-size", "-1"], "--queue-size -1"),
    (["--max-wait-ms", "nan"], "--max-wait-ms nan: give a number from 0 to 60000"),
    (["--max-wait-ms", "-5"], "--max-wait-ms -5.0"),
    (["--body-timeout", "0"], "--body-timeout 0: a request needs some time"),
    (["--queue-size", "8", "--max-dialogues", "16"], "--queue-size 8 is below --max-dialogues 16"),
    # every door refuses a dialogue over 200,000 characters: a larger --max-chars would promise what it refuses
    (["--max-chars", "500000"], "--max-chars 500000 is over the 200,000 characters"),
])
def test_bad_options_stop_with_one_message(argv, message):
    args = options(*argv)
    args.max_batch = args.max_batch if args.max_batch is not None else 32
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        serve.check(args)


def test_max_batch_0_is_refused_not_taken_for_the_default(in_tmp):
    """`args.max_batch or generate.batch_size` served with the default batch when told --max-batch 0."""
    import shutil

    from project import ROOT

    shutil.copy(ROOT / "params.yaml", in_tmp / "params.yaml")
    with pytest.raises(UserError, match="--max-batch 0: give a whole number of at least 1"):
        serve.main(["--max-batch", "0"])


def test_an_empty_host_is_refused_since_uvicorn_would_listen_everywhere():
    args = options("--host", "")
    args.max_batch = 4
    with pytest.raises(UserError, match="--host is empty"):
        serve.check(args)


def test_a_port_in_use_or_an_address_not_of_this_machine_is_one_message_before_loading():
    """It was uvicorn's `ERROR: [Errno 98] ...` and exit 3, after every model had loaded."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"port {port} on 127.0.0.1 is in use"):
            serve.listenable("127.0.0.1", port)
    serve.listenable("127.0.0.1", 0)
    with pytest.raises(UserError, match=r"--host \[::1\]: no address of that name"):
        serve.listenable("[::1]", 0)
    with pytest.raises(UserError, match="cannot listen on 192.0.2.1 port 0"):  # TEST-NET-1: never this machine's
        serve.listenable("192.0.2.1", 0)


@pytest.mark.parametrize("host, only_here", [("127.0.0.1", True), ("localhost", True), ("127.0.0.2", True),
                                             ("::1", True), ("0.0.0.0", False), ("::", False), ("10.0.0.1", False),
                                             ("example.org", False)])
def test_the_every_interface_warning_is_for_addresses_other_machines_reach(host, only_here):
    assert serve.loopback(host) is only_here


def test_a_models_dir_too_long_for_the_file_system_is_one_message(in_tmp):
    with pytest.raises(UserError, match=r"^--models r4=a{20}.*: File name too long"):
        serve.models(options("--models", "r4=" + "a" * 5000))
