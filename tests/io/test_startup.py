"""Before the libraries load: a bad HF_ENDPOINT is one error, and Ctrl-C then ends quietly."""
import os
import signal
import subprocess
import sys

import pytest

from project import ROOT


def python(*args, **env):
    # Ctrl-C as a terminal delivers it: a shell starts background jobs (CI under nohup ... &) with SIGINT ignored,
    # and Python rightly keeps an ignored SIGINT ignored
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env}, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.mark.parametrize("endpoint", ["http://[::1", "ftp://mirror", "https://", "http://host:99999", ""])
def test_an_unusable_hf_endpoint_is_one_error(endpoint):
    done = python("-m", "stages.summarize", "--help", HF_ENDPOINT=endpoint)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: HF_ENDPOINT is set to") and done.stderr.count("\n") == 1


def test_a_mirror_address_is_accepted():
    done = python("-m", "stages.summarize", "--help", HF_ENDPOINT="https://hf-mirror.example:8443/base")
    assert done.returncode == 0 and "usage" in done.stdout


# Ctrl-C at a set moment of a real `python -m stages.summarize`: as its own module is looked for, after the stages
# package (and its start-up) loaded and before the libraries do
AT_IMPORT = """import os, signal, sys


class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "stages.summarize":
            os.kill(os.getpid(), signal.SIGINT)
        return None


sys.meta_path.insert(0, Interrupt())
"""


def test_ctrl_c_while_the_libraries_load_ends_quietly(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(AT_IMPORT)
    done = python("-m", "stages.summarize", "--help", PYTHONPATH=str(tmp_path))
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "interrupted\n")


def test_a_python_c_program_that_imports_stages_keeps_its_own_ctrl_c():
    code = ("import os, signal, time, stages\ntry:\n    os.kill(os.getpid(), signal.SIGINT); time.sleep(30)\n"
            "except KeyboardInterrupt:\n    print('its own')")
    done = python("-c", code)
    assert (done.returncode, done.stdout, done.stderr) == (0, "its own\n", "")


def test_ctrl_c_once_a_command_runs_raises_so_it_can_clean_up():
    code = ("import os, signal, time, stages\nfrom stages.io.errors import run\n"
            "def main():\n    try:\n        os.kill(os.getpid(), signal.SIGINT); time.sleep(30)\n"
            "    finally:\n        print('cleaned up')\nrun(main)")
    done = python("-c", code)
    assert (done.returncode, done.stdout, done.stderr) == (130, "cleaned up\n", "interrupted\n")
