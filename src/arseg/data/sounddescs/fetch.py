"""One robust HTTP GET into a file, standard library only (urllib).

Used for both the metadata files and the audio zips. It retries transient
failures (5xx, 408/425/429, timeouts, dropped connections, short bodies) with
exponential backoff and gives up at once on permanent ones (other 4xx).
It writes to the path it is given; callers decide when a file counts as finished.
"""
from __future__ import annotations

import http.client
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

DEFAULT_USER_AGENT = "arseg-sounddescs/0.1 (research corpus builder; python-urllib)"
RETRYABLE_STATUS = {408, 425, 429}
MAX_BACKOFF_S = 300.0  # never sleep longer than this between attempts
CHUNK = 1 << 16


class FetchError(Exception):
    """One failed attempt; `retryable` says whether another attempt may help."""

    def __init__(self, message: str, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class FetchResult:
    url: str
    ok: bool
    attempts: int
    bytes: int  # bytes received over all attempts
    error: str = ""


def check_url(url: str) -> str:
    """Only http(s): urllib would also open file:// and ftp:// URLs."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"only http(s) URLs are fetched, got {url!r}")
    return url


def _get_once(url, dest: Path, received: list, *, timeout, deadline, max_bytes, user_agent) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": user_agent})
    start = time.monotonic()
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        length = resp.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        if max_bytes is not None and expected is not None and expected > max_bytes:
            raise FetchError(f"response too large: {expected} bytes > max {max_bytes}", False)
        got = 0
        try:
            out = open(dest, "wb")
        except OSError as e:
            raise FetchError(f"cannot write {dest}: {e}", False) from e
        with out:
            # bounded: every read either returns data, EOF, or times out after `timeout`
            while chunk := resp.read(CHUNK):
                got += len(chunk)
                received[0] += len(chunk)
                try:
                    out.write(chunk)
                except OSError as e:
                    raise FetchError(f"cannot write {dest}: {e}", False) from e
                if max_bytes is not None and got > max_bytes:
                    raise FetchError(f"response too large: more than {max_bytes} bytes", False)
                if deadline is not None and time.monotonic() - start > deadline:
                    raise FetchError(f"timed out: transfer took longer than {deadline} s", True)
        # http.client returns EOF quietly when the server closes early: check the length
        if expected is not None and got != expected:
            raise FetchError(f"connection dropped: got {got} of {expected} bytes", True)


def fetch(
    url: str,
    dest: str | os.PathLike,
    *,
    timeout: float = 60.0,
    retries: int = 3,
    backoff: float = 2.0,
    deadline: float | None = None,
    max_bytes: int | None = None,
    user_agent: str = DEFAULT_USER_AGENT,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchResult:
    """GET `url` into `dest` (overwritten each attempt); at most 1 + `retries` attempts.

    timeout: seconds without data before an attempt fails; deadline: seconds for a
    whole attempt (None: no limit); backoff: delay before retry k is backoff * 2**(k-1).
    Never raises for network errors: the result says ok/attempts/error.
    """
    check_url(url)
    if retries < 0 or backoff < 0 or timeout <= 0:
        raise ValueError(f"need retries >= 0, backoff >= 0, timeout > 0 (got {retries}, {backoff}, {timeout})")
    dest = Path(dest)
    received = [0]
    error = ""
    for attempt in range(1, retries + 2):
        try:
            _get_once(url, dest, received, timeout=timeout, deadline=deadline,
                      max_bytes=max_bytes, user_agent=user_agent)
            return FetchResult(url, True, attempt, received[0])
        except FetchError as e:
            err = e
        except urllib.error.HTTPError as e:
            e.close()
            err = FetchError(f"HTTP {e.code} {e.reason}", e.code in RETRYABLE_STATUS or e.code >= 500)
        except urllib.error.URLError as e:
            kind = "timed out" if isinstance(e.reason, TimeoutError) else "cannot connect"
            err = FetchError(f"{kind}: {e.reason}", True)
        except TimeoutError:
            err = FetchError(f"timed out: no data for {timeout} s", True)
        except (http.client.HTTPException, OSError) as e:
            err = FetchError(f"connection error: {type(e).__name__}: {e}", True)
        error = str(err)
        if not err.retryable or attempt == retries + 1:
            return FetchResult(url, False, attempt, received[0], error)
        sleep(min(backoff * 2 ** (attempt - 1), MAX_BACKOFF_S))
    raise AssertionError("unreachable")  # the loop always returns
