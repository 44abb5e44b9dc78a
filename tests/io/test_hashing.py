"""One way to hash files: the recorded digests keep their values, and a base model is read once per process."""
import hashlib
import os
from types import SimpleNamespace

from stages.data import sources
from stages.inference import cache
from stages.io import hashing
from stages.modeling import identity

FILES = {"model.safetensors": b"w" * 3000, "b.safetensors": b"v", "config.json": b"{}", "tokenizer.json": b"t",
         "spiece.model": b"s", "sub/x.bin": b"x"}


def _folder(tmp_path):
    for name, data in FILES.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(data)
    return tmp_path


def test_the_recorded_digests_keep_the_forms_they_were_recorded_in(tmp_path):
    folder, sha = _folder(tmp_path), lambda data: hashlib.sha256(data).hexdigest()
    weights = sha(b"b.safetensors\0v" + b"model.safetensors\0" + b"w" * 3000)  # base_model.json's weights_sha256
    assert identity.fingerprint(folder) == {"weights_sha256": weights, "weights_bytes": 3001}
    tokenizer = sha(b"spiece.model\0" + hashlib.sha256(b"s").digest()
                    + b"tokenizer.json\0" + hashlib.sha256(b"t").digest())
    assert identity.tokenizer_fingerprint(folder) == tokenizer
    listed = sorted(FILES)
    assert sources.file_hashes("model", folder)["sub/x.bin"] == {"sha256": sha(b"x"),
                                                                 "git": hashlib.sha1(b"blob 1\0x").hexdigest()}
    pin = sha("".join(f"{name}\0{sha(FILES[name])}\n" for name in listed).encode())
    assert sources.fingerprint("model", folder) == f"sha256:{pin}"  # a local folder's revision in params.yaml


def test_a_base_model_is_read_once_however_many_checks_ask(tmp_path, monkeypatch):
    """Found: loading an adapter for CTranslate2 hashed the base's weights for the adapter check and again for
    the cache key."""
    folder, reads = _folder(tmp_path), []
    read = hashing._read
    monkeypatch.setattr(hashing, "_read", lambda path, *digests: reads.append(path.name) or read(path, *digests))
    vocabulary = SimpleNamespace(get_vocab=dict, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    identity.fingerprint(folder)
    key = cache.weights_fingerprint([folder], vocabulary)
    identity.fingerprint(folder)
    assert reads.count("model.safetensors") == 1 and reads.count("config.json") == 1
    (folder / "model.safetensors").write_bytes(b"W" * 3001)  # changed: hashed anew, and the key changes
    assert cache.weights_fingerprint([folder], vocabulary) != key and reads.count("model.safetensors") == 2


def test_a_weight_file_rewritten_with_its_size_and_mtime_put_back_is_hashed_anew(tmp_path):
    """Found: the memo was keyed on size and mtime, so a base rewritten in place (or swapped for another of the
    same size, as `dvc checkout` relinks) with `touch -d` to the old time kept the old digest within a process:
    an adapter check passed and a CTranslate2 conversion of the new weights was cached under the old key."""
    folder = _folder(tmp_path)
    weights = folder / "model.safetensors"
    before, when = identity.fingerprint(folder), weights.stat()
    with open(weights, "r+b") as stream:  # in place: same inode, same size
        stream.write(b"X" * 3000)
    os.utime(weights, ns=(when.st_atime_ns, when.st_mtime_ns))
    rewritten = identity.fingerprint(folder)
    other = folder / "other"
    other.write_bytes(b"Y" * 3000)
    os.utime(other, ns=(when.st_atime_ns, when.st_mtime_ns))
    os.replace(other, weights)  # another file at the path, its size and mtime the old one's
    replaced = identity.fingerprint(folder)
    truth = hashlib.sha256(b"b.safetensors\0v" + b"model.safetensors\0" + b"Y" * 3000).hexdigest()
    assert len({before["weights_sha256"], rewritten["weights_sha256"], replaced["weights_sha256"]}) == 3
    assert replaced["weights_sha256"] == truth
