"""ACS3-HMAC-SHA256 request signing and verification (Alibaba Cloud signature V3).

Stdlib only: the emulator's control server and the CLI's client both import it.
``AcsAuth`` (the ``httpx.Auth`` that signs outgoing requests) lives in
``agentctl.api.client`` and is re-exported here lazily so that importing this
module never imports httpx.

Canonical request, exactly as the official Python SDK builds it
(``alibabacloud_tea_openapi.utils.Utils.get_authorization``)::

    METHOD \\n CANONICAL_URI \\n CANONICAL_QUERY \\n CANONICAL_HEADERS \\n SIGNED_HEADERS \\n HEX(SHA256(body))

- CANONICAL_URI: the path as sent on the wire (already percent-encoded), ``/`` when empty.
- CANONICAL_QUERY: ``key=quote(value, safe='~')`` sorted by key (repeated keys: then by
  value), joined with ``&``. Keys are quoted the same way (the SDK leaves them raw;
  both agree for the API's alphanumeric keys). Values are the decoded ones.
- CANONICAL_HEADERS: ``name:value\\n`` for each signed header, lowercase name, trimmed
  value, repeated values sorted and joined with ``,``; SIGNED_HEADERS is the sorted names
  joined with ``;``.
- String to sign: ``ACS3-HMAC-SHA256\\n`` + hex(sha256(canonical request)); the
  signature is hex(hmac_sha256(secret, string to sign)).

The verifier rebuilds the canonical request from the ``SignedHeaders`` list of the
``Authorization`` header only, so it accepts whatever set of headers a client chose
to sign (the SDK signs host, user-agent, accept, content-type and all ``x-acs-*``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

ALGORITHM = "ACS3-HMAC-SHA256"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
DEFAULT_MAX_SKEW = 900  # seconds; the cloud's window for x-acs-date, and our nonce lifetime

# Query and headers may be given as a mapping or as (name, value) pairs (repeated names allowed).
Pairs = Mapping[str, Any] | Iterable[tuple[str, Any]]


class SignatureError(Exception):
    """A request failed authentication; ``status`` is 401 or 403, ``code`` is the API error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


def _pairs(items: Pairs | None) -> list[tuple[str, str]]:
    """Flatten a mapping, a multidict or a pair list to (name, str value) pairs; None values drop."""
    if items is None:
        return []
    if hasattr(items, "multi_items"):  # httpx.Headers / QueryParams: items() would merge repeats
        raw = items.multi_items()
    elif isinstance(items, Mapping):
        raw = items.items()  # aiohttp's multidicts yield every pair here
    else:
        raw = items
    return [(str(k), v.decode() if isinstance(v, bytes) else str(v)) for k, v in raw if v is not None]


def canonical_query(query: Pairs | None) -> str:
    encoded = sorted((quote(k, safe="~"), quote(v, safe="~")) for k, v in _pairs(query))
    return "&".join(f"{k}={v}" for k, v in encoded)


def _header_values(headers: Pairs | None) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in _pairs(headers):
        values.setdefault(name.lower(), []).append(value.strip())
    return values


def canonical_headers(headers: Pairs | None, signed: Iterable[str]) -> tuple[str, str]:
    """Return (canonical header block, signed header list) for the given lowercase names.

    Raises ``KeyError`` naming the first signed header that the request does not carry.
    """
    values = _header_values(headers)
    names = sorted(set(signed))
    lines = []
    for name in names:
        if name not in values:
            raise KeyError(name)
        lines.append(f"{name}:{','.join(sorted(values[name]))}\n")
    return "".join(lines), ";".join(names)


def hash_payload(body: bytes | str | None) -> str:
    data = body.encode() if isinstance(body, str) else (body or b"")
    return hashlib.sha256(data).hexdigest()


def _signature(method: str, path: str, query: Pairs | None, header_block: str, signed: str,
               payload_hash: str, secret: str) -> str:
    canonical = "\n".join(
        [method.upper(), path or "/", canonical_query(query), header_block, signed, payload_hash]
    )
    to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def format_date(moment: float | None = None) -> str:
    return time.strftime(DATE_FORMAT, time.gmtime(time.time() if moment is None else moment))


def sign(method: str, path: str, query: Pairs | None, headers: Mapping[str, str], body: bytes | str | None,
         key_id: str, secret: str, *, security_token: str | None = None, date: str | None = None,
         nonce: str | None = None) -> dict[str, str]:
    """Return every header to send: ``headers`` plus the x-acs-* signing headers and Authorization.

    All given headers are signed (as the SDK does), so pass only what will be sent unchanged
    (e.g. host, content-type, x-acs-action, x-acs-version). ``path`` must be percent-encoded.
    """
    out = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    payload_hash = hash_payload(body)
    out["x-acs-date"] = date or format_date()
    out["x-acs-signature-nonce"] = nonce or uuid.uuid4().hex
    out["x-acs-content-sha256"] = payload_hash
    if security_token:
        out["x-acs-accesskey-id"] = key_id
        out["x-acs-security-token"] = security_token
    block, signed = canonical_headers(out, (k.lower() for k in out))
    signature = _signature(method, path, query, block, signed, payload_hash, secret)
    out["Authorization"] = f"{ALGORITHM} Credential={key_id},SignedHeaders={signed},Signature={signature}"
    return out


class NonceCache:
    """Remembers recent signature nonces to reject replays; bounded, entries expire after ``ttl`` seconds.

    When full, the oldest entry is dropped even if not yet expired: memory stays bounded at the
    cost of a replay window for that one nonce (the date check still bounds it to ``ttl``).

    With a ``journal`` file every accepted nonce is appended to it (one ``<time> <nonce>`` line), and
    the ones still within ``ttl`` are read back when the cache is made: a request captured before a
    restart of the server is still refused after it. The file is rewritten with only those at start.
    """

    def __init__(self, ttl: float = DEFAULT_MAX_SKEW, max_entries: int = 100_000, *,
                 journal: Path | None = None) -> None:
        self.ttl, self.max_entries = ttl, max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self._journal = journal
        if journal is not None:
            self._restore(journal)

    def _restore(self, journal: Path) -> None:
        now = time.time()
        try:
            lines = journal.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            lines = []
        for line in lines[-self.max_entries:]:
            stamp, _, nonce = line.partition(" ")
            with contextlib.suppress(ValueError):
                if nonce and now - float(stamp) <= self.ttl:
                    self._seen[nonce] = float(stamp)
        with contextlib.suppress(OSError):
            tmp = journal.with_suffix(".tmp")
            tmp.write_text("".join(f"{at:.3f} {nonce}\n" for nonce, at in self._seen.items()), encoding="utf-8")
            tmp.replace(journal)

    def __len__(self) -> int:
        return len(self._seen)

    def check_and_add(self, nonce: str, now: float | None = None) -> bool:
        """Record ``nonce``; return False when it was already seen within ``ttl``."""
        now = time.time() if now is None else now
        with self._lock:
            self._expire(now)
            if nonce in self._seen:
                return False
            self._seen[nonce] = now
            while len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)
            if self._journal is not None and "\n" not in nonce:
                with contextlib.suppress(OSError), open(self._journal, "a", encoding="utf-8") as out:
                    out.write(f"{now:.3f} {nonce}\n")
            return True

    def _expire(self, now: float) -> None:
        while self._seen:
            oldest, seen_at = next(iter(self._seen.items()))
            if now - seen_at <= self.ttl:
                break
            del self._seen[oldest]


def parse_authorization(value: str | None) -> tuple[str, list[str], str]:
    """Split an ``Authorization`` header into (key id, signed header names, signature)."""
    if not value:
        raise SignatureError(401, "MissingAuthorization", "the request has no Authorization header")
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureError(401, "InvalidAuthorization",
                             f"unsupported signature algorithm {algorithm!r}; expected {ALGORITHM}")
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
    key_id, signed, signature = fields.get("Credential"), fields.get("SignedHeaders"), fields.get("Signature")
    if not (key_id and signed and signature):
        raise SignatureError(401, "InvalidAuthorization",
                             "Authorization must carry Credential=, SignedHeaders= and Signature=")
    return key_id, [name.strip().lower() for name in signed.split(";") if name.strip()], signature


def _check_date(date: str, now: float, max_skew: float) -> None:
    try:
        moment = datetime.strptime(date, DATE_FORMAT).replace(tzinfo=timezone.utc).timestamp()
    except ValueError as exc:
        raise SignatureError(403, "InvalidTimeStamp.Format",
                             f"x-acs-date {date!r} is not of the form 2025-01-31T12:00:00Z") from exc
    if abs(now - moment) > max_skew:
        raise SignatureError(403, "InvalidTimeStamp.Expired",
                             f"x-acs-date {date} is more than {int(max_skew)}s away from the server time")


def verify(method: str, path: str, query: Pairs | None, headers: Pairs, body: bytes | str | None,
           lookup_secret: Callable[[str], str | None], *, nonces: NonceCache | None = None,
           now: float | None = None, max_skew: float = DEFAULT_MAX_SKEW) -> str:
    """Check an ACS3-signed request and return its access key id.

    ``path`` is the raw (still percent-encoded) request path without the query (aiohttp:
    ``request.raw_path.partition("?")[0]``), ``query`` the decoded query pairs (aiohttp: ``request.query``),
    ``headers`` a mapping or multidict, ``body`` the raw body bytes. Pass one long-lived ``nonces`` cache
    to reject replays (a nonce is recorded only once the signature is valid).

    Raises ``SignatureError``: 401 when authentication is missing or malformed; 403 for an unknown
    key, a stale date, a bad signature or a reused nonce.
    """
    checked = verify_head(method, path, query, headers, lookup_secret, now=now, max_skew=max_skew,
                          payload_hash=None if declared_hash(headers) else hash_payload(body))
    checked.check_body(body)
    checked.record_nonce(nonces)
    return checked.key_id


def declared_hash(headers: Pairs) -> str | None:
    """The ``x-acs-content-sha256`` the client signed, if it sent one."""
    found = _header_values(headers).get("x-acs-content-sha256")
    return found[0] if found else None


class SignedHead:
    """A request whose signature is valid for the body hash it declares (see :func:`verify_head`)."""

    def __init__(self, key_id: str, payload_hash: str, nonce: str, now: float) -> None:
        self.key_id, self.payload_hash, self.nonce, self.now = key_id, payload_hash, nonce, now

    def check_body(self, body: bytes | str | None) -> None:
        if hash_payload(body) != self.payload_hash:
            raise SignatureError(403, "SignatureDoesNotMatch", "x-acs-content-sha256 does not match the request body")

    def record_nonce(self, nonces: NonceCache | None) -> None:
        if nonces is not None and not nonces.check_and_add(self.nonce, self.now):
            raise SignatureError(403, "SignatureNonceUsed", "x-acs-signature-nonce was already used (replayed request)")


def verify_head(method: str, path: str, query: Pairs | None, headers: Pairs,
                lookup_secret: Callable[[str], str | None], *, payload_hash: str | None = None,
                now: float | None = None, max_skew: float = DEFAULT_MAX_SKEW) -> SignedHead:
    """Everything :func:`verify` checks that needs no body: the signature is checked against the body hash the
    client declared (``x-acs-content-sha256``), or ``payload_hash`` when given. A server can so refuse an
    unsigned or forged request before it reads a byte of its body; then it reads the body and calls
    ``check_body`` and ``record_nonce``.
    """
    values = _header_values(headers)
    key_id, signed, signature = parse_authorization(",".join(values.get("authorization", [])) or None)
    for required in ("x-acs-date", "x-acs-signature-nonce"):
        if required not in values:
            raise SignatureError(401, "MissingParameter", f"the request has no {required} header")
        if required not in signed:
            raise SignatureError(403, "IncompleteSignature", f"{required} must be listed in SignedHeaders")
    secret = lookup_secret(key_id)
    if secret is None:
        raise SignatureError(403, "InvalidAccessKeyId.NotFound", f"access key {key_id!r} is not known")
    now = time.time() if now is None else now
    _check_date(values["x-acs-date"][0], now, max_skew)
    declared = values.get("x-acs-content-sha256", [None])[0]
    if payload_hash is not None and declared not in (None, payload_hash):
        raise SignatureError(403, "SignatureDoesNotMatch", "x-acs-content-sha256 does not match the request body")
    payload_hash = payload_hash or declared
    if payload_hash is None:
        raise SignatureError(401, "MissingParameter", "the request has no x-acs-content-sha256 header")
    try:
        block, signed_list = canonical_headers(headers, signed)
    except KeyError as exc:
        raise SignatureError(403, "SignatureDoesNotMatch", f"signed header {exc.args[0]} is missing") from exc
    expected = _signature(method, path, query, block, signed_list, payload_hash, secret)
    if not hmac.compare_digest(expected, signature.lower()):
        raise SignatureError(403, "SignatureDoesNotMatch",
                             "the request signature does not match; check the AccessKey secret")
    return SignedHead(key_id, payload_hash, values["x-acs-signature-nonce"][0], now)


def __getattr__(name: str) -> Any:
    # AcsAuth subclasses httpx.Auth; import it only when asked for, to keep this module stdlib-only.
    if name == "AcsAuth":
        from agentctl.api.client import AcsAuth

        return AcsAuth
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
