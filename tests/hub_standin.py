"""A stand-in for the Hugging Face Hub's HTTP API on 127.0.0.1, for `HF_ENDPOINT`: exactly the calls
huggingface_hub 2.4 makes to publish a model (read from its source: hf_api.py, _commit_api.py, lfs.py,
file_download.py), keeping every repo's files in memory so a test can compare the bytes that arrived.

    GET  /api/whoami-v2                                   the token's user (401 for any other token)
    POST /api/repos/create                                a repo with the Hub's first commit (.gitattributes); 409 if it exists
    POST /api/models/{repo}/branch/{branch}               a branch at main's head; 409 if it exists
    GET  /api/models/{repo}/revision/{rev}                repo info: sha, private, siblings (?blobs=true: each
                                                          file's size, git blob id, and LFS sha256 for *.safetensors)
    HEAD|GET /{repo}/resolve/{rev}/{path}                 a file, with X-Repo-Commit and ETag
    POST /api/validate-yaml                               the card's metadata block must be a YAML mapping
    POST /api/models/{repo}/preupload/{rev}               upload mode per file (lfs for *.safetensors) and the remote oid
    POST /{repo}.git/info/lfs/objects/batch               LFS basic transfer: an upload href per object not yet stored
    PUT  /lfs-upload/{oid}                                the object's bytes, checked against its sha256 and size
    POST /api/models/{repo}/commit/{rev}                  NDJSON: header, file (base64), lfsFile, deletedFile; parentCommit

Faults for the attack tests: `drop` names requests ("put", "commit") whose connection is cut after half the body
was read, once each; `hold` makes the next LFS PUT read half its body, then wait until released (the test kills
the client meanwhile); `echo_auth` answers the commit with a 500 whose body repeats the Authorization header.
LFS uploads go through the legacy LFS protocol: the tests set HF_HUB_DISABLE_XET=1, since Xet's CAS protocol is
not stood in for.
"""
import base64
import hashlib
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

import yaml

USER = "tester"
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n"
REPO = r"(?P<repo>[\w.\-]+/[\w.\-]+)"


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_lfs(path: str, size: int) -> bool:
    return path.endswith(".safetensors") or size > 10_000_000


def sibling(path: str, data: bytes) -> dict:
    """A file as the Hub describes it with blobs=true: an LFS file's blob id is its pointer's, beside its sha256."""
    if not is_lfs(path, len(data)):
        return {"rfilename": path, "size": len(data), "blobId": git_blob_sha(data)}
    sha256 = hashlib.sha256(data).hexdigest()
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(data)}\n".encode()
    return {"rfilename": path, "size": len(data), "blobId": git_blob_sha(pointer),
            "lfs": {"size": len(data), "sha256": sha256, "pointerSize": len(pointer)}}


class Hub:
    def __init__(self, token: str):
        self.token = token
        self.repos: dict[str, dict] = {}      # repo -> {private, branches {name: sha}, commits {sha: files}}
        self.lfs: dict[str, bytes] = {}       # sha256 -> bytes
        self.calls: list[tuple[str, str]] = []
        self.drop: set[str] = set()
        self.hold = None                      # threading.Event while a PUT is to be held
        self.holding = threading.Event()      # set once a held PUT has read half its body
        self.echo_auth = False
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def files(self, repo: str, revision: str = "main") -> dict[str, bytes]:
        """The repo's files at a branch, LFS pointers resolved to their bytes."""
        entry = self.repos[repo]
        return dict(entry["commits"][entry["branches"][revision]])

    def head(self, repo: str, revision: str = "main") -> str:
        return self.repos[repo]["branches"][revision]

    def commit_count(self, repo: str) -> int:
        return len(self.repos[repo]["commits"])

    def _new_commit(self, repo: str, branch: str, files: dict, parent: str | None) -> str:
        digest = hashlib.sha1(json.dumps([parent, sorted((p, hashlib.sha256(b).hexdigest()) for p, b in files.items())])
                              .encode()).hexdigest()
        entry = self.repos[repo]
        entry["commits"][digest] = dict(files)
        entry["branches"][branch] = digest
        return digest

    def add_model(self, repo: str, files: dict[str, bytes], commit: str) -> None:
        """A public model repo whose main is `commit`, holding `files`: a Hub model a test's local base is
        claimed to be a copy of (`publish --base-model REPO@COMMIT`)."""
        self.repos[repo] = {"private": False, "branches": {"main": commit},
                            "commits": {commit: {".gitattributes": GITATTRIBUTES, **files}}}

    def create(self, repo: str, private: bool) -> None:
        self.repos[repo] = {"private": private, "branches": {}, "commits": {}}
        self._new_commit(repo, "main", {".gitattributes": GITATTRIBUTES}, None)


def _handler(hub: Hub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet: pytest shows what a failing test printed
            pass

        # ---- plumbing ----
        def _body(self, limit: int | None = None) -> bytes:
            """The request body (Content-Length or chunked); with `limit`, only that many bytes of it."""
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline()
                    if limit is not None and len(data) >= limit:
                        return data[:limit]
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length if limit is None else min(limit, length))

        def _cut(self) -> None:
            """Drop the connection without an answer, as a crashed server or a broken network would."""
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def _send(self, status: int, payload=None, headers=None, body: bytes | None = None, head=False) -> None:
            data = body if body is not None else (b"" if payload is None else json.dumps(payload).encode())
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if body is None else "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if not head:
                self.wfile.write(data)

        def _error(self, status: int, message: str, code: str | None = None) -> None:
            self._send(status, {"error": message}, {"X-Error-Code": code} if code else None)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {hub.token}":
                return True
            self._body()
            self._error(401, "Invalid credentials in Authorization header")
            return False

        def _revision(self, repo: str, rev: str) -> str | None:
            entry = hub.repos.get(repo)
            if entry is None:
                return None
            rev = unquote(rev)
            return entry["branches"].get(rev) or (rev if rev in entry["commits"] else None)

        # ---- routes ----
        def do_GET(self):
            self._route("GET")

        def do_HEAD(self):
            self._route("HEAD")

        def do_POST(self):
            self._route("POST")

        def do_PUT(self):
            self._route("PUT")

        def _route(self, method: str) -> None:
            path = urlparse(self.path).path
            hub.calls.append((method, path))
            routes = [
                ("GET", r"/api/whoami-v2", self.whoami),
                ("POST", r"/api/repos/create", self.create_repo),
                ("POST", rf"/api/models/{REPO}/branch/(?P<branch>[^/]+)", self.create_branch),
                ("GET", rf"/api/models/{REPO}/revision/(?P<rev>[^/]+)", self.repo_info),
                ("HEAD", rf"/{REPO}/resolve/(?P<rev>[^/]+)/(?P<file>.+)", self.resolve),
                ("GET", rf"/{REPO}/resolve/(?P<rev>[^/]+)/(?P<file>.+)", self.resolve),
                ("POST", r"/api/validate-yaml", self.validate_yaml),
                ("POST", rf"/api/models/{REPO}/preupload/(?P<rev>[^/]+)", self.preupload),
                ("POST", rf"/{REPO}\.git/info/lfs/objects/batch", self.lfs_batch),
                ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", self.lfs_put),
                ("POST", rf"/api/models/{REPO}/commit/(?P<rev>[^/]+)", self.commit),
            ]
            for verb, pattern, handle in routes:
                found = re.fullmatch(pattern, path)
                if verb == method and found:
                    with_auth = handle not in (self.lfs_put,)  # a presigned upload URL carries no token
                    if with_auth and not self._authorized():
                        return
                    return handle(method=method, **found.groupdict())
            self._body()
            self._error(404, f"stand-in Hub: no route for {method} {path}")

        def whoami(self, method):
            self._send(200, {"type": "user", "name": USER, "auth": {"accessToken": {"role": "write"}}})

        def create_repo(self, method):
            payload = json.loads(self._body())
            repo = f"{payload.get('organization') or USER}/{payload['name']}"
            with hub.lock:
                if repo.split("/")[0] != USER:
                    return self._error(403, f"You don't have the rights to create a model under {repo.split('/')[0]}")
                if repo in hub.repos:  # the Hub's 409 carries the url, which create_repo(exist_ok=True) returns
                    return self._send(409, {"error": "You already created this model repo",
                                            "url": f"{hub.url}/{repo}"})
                hub.create(repo, payload.get("visibility") == "private" or payload.get("private") is True)
            self._send(200, {"url": f"{hub.url}/{repo}", "name": repo})

        def create_branch(self, method, repo, branch):
            self._body()
            with hub.lock:
                if repo not in hub.repos:
                    return self._error(404, "Repository not found", "RepoNotFound")
                entry = hub.repos[repo]
                if unquote(branch) in entry["branches"]:
                    return self._error(409, "Branch already exists")
                entry["branches"][unquote(branch)] = entry["branches"]["main"]
            self._send(200, {})

        def repo_info(self, method, repo, rev):
            sha = self._revision(repo, rev)
            if repo not in hub.repos:
                return self._error(404, "Repository not found", "RepoNotFound")
            if sha is None:
                return self._error(404, "Invalid rev id", "RevisionNotFound")
            files = hub.repos[repo]["commits"][sha]
            blobs = "blobs=true" in urlparse(self.path).query.lower()
            self._send(200, {"id": repo, "sha": sha, "private": hub.repos[repo]["private"],
                             "siblings": [sibling(name, files[name]) if blobs else {"rfilename": name}
                                          for name in sorted(files)]})

        def resolve(self, method, repo, rev, file):
            sha = self._revision(repo, rev)
            if sha is None:
                return self._error(404, "Repository or revision not found", "RevisionNotFound")
            data = hub.repos[repo]["commits"][sha].get(unquote(file))
            if data is None:
                return self._error(404, "Entry not found", "EntryNotFound")
            self._send(200, body=data, head=method == "HEAD",
                       headers={"X-Repo-Commit": sha, "ETag": f'"{git_blob_sha(data)}"'})

        def validate_yaml(self, method):
            content = json.loads(self._body())["content"]
            found = re.match(r"\A---\n(.*?)\n---\n", content, re.S)
            try:
                meta = yaml.safe_load(found.group(1)) if found else {}
            except yaml.YAMLError as error:
                return self._send(400, {"errors": [{"message": str(error)}]})
            if not isinstance(meta, dict):
                return self._send(400, {"errors": [{"message": "metadata must be a mapping"}]})
            self._send(200, {"errors": [], "warnings": []})

        def preupload(self, method, repo, rev):
            payload = json.loads(self._body())
            sha = self._revision(repo, rev)
            if sha is None:
                return self._error(404, "Repository or revision not found", "RepoNotFound")
            current = hub.repos[repo]["commits"][sha]
            answer = []
            for item in payload["files"]:
                lfs = is_lfs(item["path"], item["size"])
                row = {"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
                if item["path"] in current:
                    data = current[item["path"]]
                    row["oid"] = hashlib.sha256(data).hexdigest() if lfs else git_blob_sha(data)
                answer.append(row)
            self._send(200, {"files": answer, "commitOid": sha})

        def lfs_batch(self, method, repo):
            payload = json.loads(self._body())
            objects = []
            for item in payload["objects"]:
                row = {"oid": item["oid"], "size": item["size"], "authenticated": True}
                if item["oid"] not in hub.lfs:
                    row["actions"] = {"upload": {"href": f"{hub.url}/lfs-upload/{item['oid']}"}}
                objects.append(row)
            self._send(200, {"transfer": "basic", "objects": objects})

        def lfs_put(self, method, oid):
            if hub.hold is not None and not hub.hold.is_set():
                size = int(self.headers.get("Content-Length") or 2)
                self._body(limit=max(size // 2, 1))
                hub.holding.set()
                hub.hold.wait(60)
                return self._cut()
            if "put" in hub.drop:
                hub.drop.discard("put")
                size = int(self.headers.get("Content-Length") or 2)
                self._body(limit=max(size // 2, 1))
                return self._cut()
            data = self._body()
            if hashlib.sha256(data).hexdigest() != oid:
                return self._error(400, "sha256 of the uploaded bytes does not match the oid")
            hub.lfs[oid] = data
            self._send(200, {})

        def commit(self, method, repo, rev):
            if "commit" in hub.drop:
                hub.drop.discard("commit")
                size = int(self.headers.get("Content-Length") or 2)
                self._body(limit=max(size // 2, 1))
                return self._cut()
            lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
            if hub.echo_auth:
                return self._error(500, f"internal error; request had Authorization: {self.headers['Authorization']}")
            branch = unquote(rev)
            with hub.lock:
                if repo not in hub.repos or branch not in hub.repos[repo]["branches"]:
                    return self._error(404, "Repository or branch not found", "RevisionNotFound")
                head = hub.repos[repo]["branches"][branch]
                header = lines[0]["value"]
                parent = header.get("parentCommit")
                if parent and parent != head:
                    return self._error(412, "A commit has happened since. Please refresh and try again.")
                files = dict(hub.repos[repo]["commits"][head])
                for line in lines[1:]:
                    key, value = line["key"], line["value"]
                    if key == "file":
                        files[value["path"]] = base64.b64decode(value["content"])
                    elif key == "lfsFile":
                        data = hub.lfs.get(value["oid"])
                        if data is None or len(data) != value["size"]:
                            return self._error(422, f"LFS object {value['oid']} was never uploaded")
                        files[value["path"]] = data
                    elif key == "deletedFile":
                        files.pop(value["path"], None)
                    else:
                        return self._error(400, f"stand-in Hub: unknown commit operation {key}")
                sha = hub._new_commit(repo, branch, files, head)
            self._send(200, {"commitUrl": f"{hub.url}/{repo}/commit/{sha}", "commitOid": sha,
                             "success": True})

    return Handler
