"""Credentials removed from every text a command prints: scrub() is applied to every message (stages/io/errors.py
prints every UserError and every traceback through it, and installs scrub_logs() for every library's log records
and warnings), so a password in HF_ENDPOINT (http://user:password@host), a Hub token (hf_...) or an
Authorization value never reaches a terminal, a log or a card."""
import os
import re
import sys
from urllib.parse import unquote, urlsplit

HIDDEN = "***"
TOKEN_HIDDEN = "hf_***"

# scheme://user:password@host -> scheme://***@host: everything up to the last '@' before the path
# "://", or ":/" where a URL was joined to a path and its "//" collapsed (datasets names such a path in errors)
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*:/{1,2})[^/\s?#@'\"<>]*(?:@[^/\s?#@'\"<>]*)*@")
_TOKEN = re.compile(r"\b(?:hf|api_org)_[A-Za-z0-9]{20,}\b")
_AUTHORIZATION = re.compile(r"(?i)\b(authorization\b['\"]?\s*[:=]\s*['\"]?)(?:(bearer|basic|token)\s+)?"
                            r"([A-Za-z0-9._~+/=\-]+\**)")
_BEARER = re.compile(r"\b(Bearer|bearer|BEARER)\s+[A-Za-z0-9._~+/=\-]{8,}")
SHORTEST = 4  # a known secret shorter than this is not searched for alone: it would cut up ordinary words


def _known_secrets(extra) -> list[str]:
    """The secrets this process holds: the ones given, the Hub token in the environment, HF_ENDPOINT's password."""
    found = [s for s in extra if s]
    found += [os.environ.get(name) or "" for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")]
    endpoint = os.environ.get("HF_ENDPOINT") or ""
    if "@" in endpoint:
        # as typed too: a password with '/', '#' or '?' left unencoded makes no URL, and is still a password
        typed = endpoint.partition("://")[2].rpartition("@")[0]
        userinfos = [typed] if ":" in typed else []
        try:
            userinfos.append(urlsplit(endpoint).netloc.rpartition("@")[0])
        except ValueError:
            pass
        for userinfo in userinfos:
            password = userinfo.partition(":")[2]
            found += [userinfo, unquote(userinfo), password, unquote(password)]
    return sorted({s for s in found if len(s) >= SHORTEST}, key=len, reverse=True)


def scrub(text, *secrets: str | None) -> str:
    """`text` without credentials: URL user info, Hub tokens, Authorization and Bearer values, and each of
    `secrets` and the secrets the environment holds (HF_TOKEN, HF_ENDPOINT's password), wherever they stand."""
    text = text if isinstance(text, str) else str(text)
    for secret in _known_secrets(secrets):
        text = text.replace(secret, TOKEN_HIDDEN if secret.startswith("hf_") else HIDDEN)
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{HIDDEN}@", text)
    text = _TOKEN.sub(TOKEN_HIDDEN, text)
    text = _AUTHORIZATION.sub(lambda m: m[0] if m[3].endswith(HIDDEN) else  # hidden already: hf_*** stays
                              f"{m[1]}{m[2] + ' ' if m[2] else ''}{HIDDEN}", text)
    return _BEARER.sub(lambda m: f"{m[1]} {HIDDEN}", text)


class _ScrubbedStream:
    """A text stream whose every write has its credentials removed; everything else is the stream's own."""
    scrubs = True

    def __init__(self, stream):
        self._stream = stream

    def _open(self):
        # a stream closed under us (a test runner's capture that ended) must not take the process's stderr with it
        return sys.__stderr__ if getattr(self._stream, "closed", False) and sys.__stderr__ else self._stream

    def write(self, text):
        self._open().write(scrub(text))
        return len(text)

    def flush(self):
        self._open().flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def scrub_logs() -> None:
    """Every log record (any library's logger, any handler), every warning and everything written to stderr (a
    command's own warnings name what params.yaml gives, such as a data.source URL) from now on has its
    credentials removed: one record factory, one warning formatter and one stderr for the whole process.
    Idempotent. stdout is left as it is: it carries data (summaries, JSON) that must come out unchanged."""
    import logging
    import warnings

    if sys.stderr is not None and not getattr(sys.stderr, "scrubs", False):
        sys.stderr = _ScrubbedStream(sys.stderr)

    made = logging.getLogRecordFactory()
    if not getattr(made, "scrubs", False):
        def record(*args, **kwargs):
            found = made(*args, **kwargs)
            try:
                message = found.getMessage()
            except Exception:  # noqa: BLE001 - a bad format string is the logging module's to report
                return found
            clean = scrub(message)
            if clean != message:
                found.msg, found.args = clean, None
            return found

        record.scrubs = True
        logging.setLogRecordFactory(record)
    formats = warnings.formatwarning
    if not getattr(formats, "scrubs", False):
        def formatted(*args, **kwargs):
            return scrub(formats(*args, **kwargs))

        formatted.scrubs = True
        warnings.formatwarning = formatted
