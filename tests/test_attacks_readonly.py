"""A read-only plots/ folder stops a training stage at its start with one `error:`, not DVCLive's traceback."""
import errno

import dvclive
import pytest

from stages.training import loop
from stages.io.errors import UserError


def test_a_read_only_plots_folder_is_one_message(tmp_path, monkeypatch):
    def read_only(directory, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", f"{directory}/metrics.json")
    monkeypatch.setattr(dvclive, "Live", read_only)
    with pytest.raises(UserError, match=r"cannot write .*plots.*Read-only file system"):
        loop.LiveLogger(tmp_path / "plots" / "train_full")


def test_other_dvclive_failures_still_raise(tmp_path, monkeypatch):
    def broken(directory, **kwargs):
        raise OSError(errno.EIO, "I/O error")
    monkeypatch.setattr(dvclive, "Live", broken)
    with pytest.raises(OSError):
        loop.LiveLogger(tmp_path / "plots" / "train_full")
