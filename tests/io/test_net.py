"""The one door to the network (stages/io/net.py): credentials never printed (stages/io/secrets.py), a Hub that
never answers is one error after STAGES_NET_TIMEOUT, not a hang."""
import subprocess
import sys

import pytest

from project import ROOT, env
from publishing import TOKEN
from servers import Silent, Trickle
from stages.io import errors, net, secrets, startup

PASSWORD = "Pa55-w0rd-never-shown"

HOSTILE = [  # text as a library, a server or git may word it, each holding a secret
    f"HTTPError: 401 for url http://alice:{PASSWORD}@hub.example/api/whoami-v2",
    f"fatal: unable to access 'https://bob:{PASSWORD}@git.example/repo.git/': Could not resolve host",
    f"request headers: {{'authorization': 'Bearer {TOKEN}', 'user-agent': 'x'}}",
    f"Authorization: Bearer {PASSWORD}",
    f"the token {TOKEN} was refused",
    f"s3://carol:{PASSWORD}@bucket.example/path",
    # a URL joined to a path (datasets: "Couldn't find any data file at /project/https:/user:pw@host/d")
    f"Couldn't find any data file at /tmp/project/https:/frank:{PASSWORD}@example.com/d.",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_scrub_removes_every_kind_of_credential(text):
    out = secrets.scrub(text)
    assert PASSWORD not in out and TOKEN not in out and "***" in out


def test_scrub_keeps_the_text_around_a_secret():
    assert secrets.scrub(f"(request had Authorization: Bearer {TOKEN}): try again") == \
        "(request had Authorization: Bearer hf_***): try again"
    assert secrets.scrub(f"see http://u:{PASSWORD}@host:8080/path?q=1.") == "see http://***@host:8080/path?q=1."


def test_scrub_leaves_ordinary_text_and_hides_known_secrets_wherever_they_stand(monkeypatch):
    plain = "could not reach https://huggingface.co/api/models (ConnectError): basic transfer; hf_hub_download"
    assert secrets.scrub(plain) == plain
    monkeypatch.setenv("HF_ENDPOINT", f"https://dave:{PASSWORD}@mirror.example")
    assert PASSWORD not in secrets.scrub(f"login failed for dave with {PASSWORD} (decoded)")
    assert secrets.scrub("short secret", "ab") == "short secret"  # a 2-character secret would cut up every word


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf", "1e9"])
def test_a_timeout_that_is_no_positive_number_of_seconds_is_one_error(value, monkeypatch):
    monkeypatch.setenv(net.VARIABLE, value)
    with pytest.raises(errors.UserError, match=net.VARIABLE):
        net.timeout_s()


@pytest.mark.parametrize("password", [PASSWORD, "pa/ss-word", "pa#ss-word", "pa?ss-word", "p/a#s?s"])
def test_an_endpoint_with_a_password_is_refused_without_printing_it(password, monkeypatch):
    # a password with '/', '#' or '?' typed unencoded makes no URL, and is still the user's password
    monkeypatch.setenv("HF_ENDPOINT", f"http://eve:{password}@127.0.0.1:99999")
    problem = startup.endpoint_problem()
    assert problem and "HF_ENDPOINT" in problem and password not in problem
    assert password not in secrets.scrub(f"it was {password}")


def test_every_user_error_and_traceback_is_printed_scrubbed_and_without_control_characters(capsys, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # errors.run installs its own: put it back after
    def fails():
        raise errors.UserError(f"at http://u:{PASSWORD}@h/x with {TOKEN}\x1b[2J\rforged")

    with pytest.raises(SystemExit):
        errors.run(fails)
    printed = capsys.readouterr().err
    assert PASSWORD not in printed and TOKEN not in printed and "\x1b" not in printed and "\r" not in printed
    try:
        raise RuntimeError(f"bug near http://u:{PASSWORD}@h")
    except RuntimeError:
        errors._scrubbed_traceback(*sys.exc_info())
    assert PASSWORD not in capsys.readouterr().err


def test_library_logs_and_warnings_are_scrubbed_once_a_command_runs():
    code = ("import logging, sys, warnings; from stages.io.errors import run; "
            "run(lambda: (logging.getLogger('some.library').warning('retrying http://u:%s@h', sys.argv[1]), "
            "warnings.warn('token ' + sys.argv[2] + ' expires soon'), "
            # a command's own warning naming what params.yaml gives (prepare: 'could not resolve dataset ...')
            "print(f'warning: could not resolve https://g:{sys.argv[1]}@h/d', file=sys.stderr)))")
    done = subprocess.run([sys.executable, "-c", code, PASSWORD, TOKEN], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env())
    assert done.returncode == 0, done.stderr
    assert "retrying http://***@h" in done.stderr and "token hf_*** expires" in done.stderr
    assert "could not resolve https://***@h/d" in done.stderr
    assert PASSWORD not in done.stderr and TOKEN not in done.stderr


# Both hung forever: huggingface_hub's client has no timeout of its own (Silent), and a read that got a byte within
# the timeout counted only time without any byte (Trickle).
@pytest.mark.parametrize("server", [Silent, Trickle], ids=["never answers", "a byte at a time"])
def test_a_hub_that_does_not_answer_is_one_error_after_the_timeout_with_no_password(server):
    code = ("from stages.io.errors import run; from stages.shipping import hub; "
            "run(lambda: print(hub.Hub(hub.token()).user()))")
    with server() as hub_server:
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={**env(), "HF_HUB_OFFLINE": "0", "HF_TOKEN": TOKEN, net.VARIABLE: "0.5",
                                   "HF_ENDPOINT": hub_server.url(f"frank:{PASSWORD}")})
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("error: ") == 1 and "could not reach the Hub" in done.stderr
    assert "no answer in 0.5 s" in done.stderr and net.VARIABLE in done.stderr
    assert PASSWORD not in done.stdout + done.stderr and TOKEN not in done.stdout + done.stderr


PREPARE_CALLS = {  # what prepare asks of the Hub: each retried per file for most of an hour before
    "tokenizer": "from transformers import AutoTokenizer; from stages.modeling import models; "
                 "run(lambda: models._from_pretrained(AutoTokenizer, 'google/flan-t5-base', 'main'))",
    "dataset": "from stages.data import loading, layout; "
               "run(lambda: loading.load('knkarthick/dialogsum', 'main', layout.Layout(), 42))",
}


@pytest.mark.parametrize("call", PREPARE_CALLS)
def test_prepares_downloads_from_a_hub_that_never_answers_end_in_one_error(call, tmp_path):
    with Silent() as silent:
        done = subprocess.run([sys.executable, "-c", "from stages.io.errors import run; " + PREPARE_CALLS[call]],
                              cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={**env(), "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", net.VARIABLE: "0.5",
                                   "HF_HOME": str(tmp_path), "HF_ENDPOINT": silent.url(f"grace:{PASSWORD}")})
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("error: ") == 1 and "from the Hugging Face Hub" in done.stderr
    assert PASSWORD not in done.stdout + done.stderr
