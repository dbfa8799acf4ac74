"""The HTTP(S) client to a site agent: :class:`Remote` (one pooled connection to an agent,
carrying the run's token, with a raw streamed GET for the bulk path of a pull) and the
small calls to an agent (its checkpoint list, its health, its peers, a liveness probe)."""

from __future__ import annotations

import json
import ssl
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from greenhop.core.errors import TransferError
from greenhop.runtime.agent import agent_url_parts
from greenhop.runtime.auth import Credentials


class Remote:
    """HTTP(S) access to one agent over one pooled httpx client (keep-alive), carrying the
    run's token; over HTTPS the agent's certificate must chain to the run's CA."""

    def __init__(self, url: str, timeout_s: float,
                 credentials: Credentials | None = None) -> None:
        scheme, hostname, port = agent_url_parts(url)
        creds = credentials or Credentials()
        self.creds = creds
        self.scheme, self.hostname = scheme, hostname
        host = f"[{hostname}]" if ":" in hostname else hostname
        self.port = port
        self.url = f"{scheme}://{host}:{port}"
        self.timeout_s = timeout_s
        # one TLS context (the run's CA loaded once) for every connection to this agent;
        # over plain HTTP a bare one that trusts nothing (no TLS is ever spoken), instead of
        # httpx's default, which loads the system's CA bundle (tens of ms) for every pull
        self.verify = creds.verify() if scheme == "https" else \
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._idle = None  # a keep-alive connection of the bulk path, free for the next GET
        self.client = httpx.Client(
            base_url=self.url, headers=creds.headers(),
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            verify=self.verify,
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
            follow_redirects=False, trust_env=False)

    def close(self) -> None:
        if self._idle is not None:
            self._idle.close()
            self._idle = None
        self.client.close()

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def stream(self, method: str, path: str, headers: dict[str, str] | None = None,
               body: bytes | None = None):
        """Send a request; the response body is read later (close the response)."""
        req = self.client.build_request(method, path, headers=headers, content=body)
        return self.client.send(req, stream=True)

    def raw_stream(self, path: str, headers: dict[str, str]) -> _RawStream:
        """A GET whose body is read in exact lengths straight off the socket: the bulk path
        of a transfer (the standard library's buffered reader does in C what an h11 parse
        per socket read costs in Python; measured twice the client CPU at 1 Gbit/s)."""
        return _RawStream(self, path, headers)

    def get_bytes(self, path: str, limit_bytes: int = 64 * 1024 * 1024) -> bytes:
        try:
            resp = self.stream("GET", path)
        except (OSError, httpx.HTTPError) as exc:
            raise TransferError(
                f"cannot reach the agent at {self.url}: {why(exc)}; is it running?"
            ) from None
        try:
            data = bytearray()
            for piece in resp.iter_raw():
                data += piece
                if len(data) > limit_bytes:
                    raise TransferError(f"{self.url}{path} is larger than {limit_bytes} B")
        except (OSError, httpx.HTTPError) as exc:
            raise TransferError(f"connection to {self.url} broke reading {path}: {why(exc)}") \
                from None
        finally:
            resp.close()
        if resp.status_code != 200:
            raise TransferError(f"{self.url}{path} answered {resp.status_code}: "
                                f"{message(bytes(data))}")
        return bytes(data)


class _RawStream:
    """One streamed GET over ``http.client`` (TLS with the run's CA, the run's token).

    Reuses the agent's idle keep-alive connection when there is one (the files of a
    checkpoint follow each other without a new TCP and TLS handshake, which on a busy
    machine left the link idle between files); a body read to its end hands the
    connection back on :meth:`close`.
    """

    def __init__(self, remote: Remote, path: str, headers: dict[str, str]) -> None:
        import http.client

        self.remote = remote
        conn, remote._idle = remote._idle, None
        for fresh in ((False, True) if conn is not None else (True,)):
            if fresh:
                conn = self._connect(remote)
            self.conn = conn
            try:
                conn.request("GET", path, headers={**remote.creds.headers(), **headers})
                self.resp = conn.getresponse()
                break
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if fresh:  # a reused connection the agent had closed gets one new try
                    raise httpx.TransportError(why(exc)) from None
        self.status_code = self.resp.status

    @staticmethod
    def _connect(remote: Remote):
        import http.client
        import ssl

        if remote.scheme == "https":
            ctx = remote.verify if isinstance(remote.verify, ssl.SSLContext) else \
                ssl.create_default_context()
            return http.client.HTTPSConnection(remote.hostname, remote.port,
                                               timeout=remote.timeout_s, context=ctx)
        return http.client.HTTPConnection(remote.hostname, remote.port,
                                          timeout=remote.timeout_s)

    def read(self, n: int = -1) -> bytes:
        import http.client

        try:
            return self.resp.read() if n < 0 else self.resp.read(n)
        except (OSError, http.client.HTTPException):
            return b""

    def readinto(self, view: memoryview) -> int:
        """Fill ``view`` from the body, straight off the socket (no intermediate bytes);
        return how many bytes came (fewer when the connection broke)."""
        import http.client

        got = 0
        while got < len(view):
            try:
                n = self.resp.readinto(view[got:])
            except (OSError, http.client.HTTPException):
                return got
            if not n:
                return got
            got += n
        return got

    def close(self) -> None:
        """Hand the connection back for the next GET when the body was read to its end
        (and the agent keeps it open), else close it."""
        reusable = (self.resp.isclosed() and not self.resp.will_close
                    and self.remote._idle is None)
        if reusable:
            self.remote._idle = self.conn
        else:
            self.conn.close()


def why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def message(data: bytes) -> str:
    try:
        return str(json.loads(data).get("error", data[:200]))
    except (ValueError, AttributeError):
        return repr(data[:200])


def list_remote(url: str, job: str, timeout_s: float = 30.0, *,
                credentials: Credentials | None = None) -> list[dict[str, Any]]:
    """The complete checkpoints the agent at ``url`` holds for ``job``, newest first."""
    with Remote(url, timeout_s, credentials) as remote:
        return list_checkpoints(remote, job)


def list_checkpoints(remote: Remote, job: str) -> list[dict[str, Any]]:
    try:
        out = json.loads(remote.get_bytes(f"/v1/jobs/{quote(job)}/checkpoints"))
    except ValueError:
        raise TransferError(f"{remote.url} sent a checkpoint list that is not JSON") from None
    if not isinstance(out, list):
        raise TransferError(f"{remote.url} sent a checkpoint list that is not a list")
    return out


def agent_health(url: str, timeout_s: float = 2.0, *,
                 credentials: Credentials | None = None) -> dict[str, Any]:
    """The agent's ``/v1/health`` answer; :class:`TransferError` when it does not answer."""
    with Remote(url, timeout_s, credentials) as remote:
        return json.loads(remote.get_bytes("/v1/health"))


def set_peers(url: str, peers: list[str], *, credentials: Credentials | None = None,
              timeout_s: float = 10.0) -> None:
    """Tell the agent at ``url`` which agents belong to the run (the only ones it pulls
    from)."""
    with Remote(url, timeout_s, credentials) as remote:
        try:
            resp = remote.client.put("/v1/peers", json={"urls": list(peers)})
        except (OSError, httpx.HTTPError) as exc:
            raise TransferError(f"cannot reach the agent at {remote.url}: {why(exc)}") \
                from None
        if resp.status_code != 200:
            raise TransferError(f"{remote.url} refused its peers: {resp.status_code} "
                                f"{message(resp.content)}")


def probe_agent(url: str, timeout_s: float = 1.0) -> str:
    """``"ok"`` when something answers as an agent at ``url`` (a 401 without the token
    counts: the agent is up), else why not. A liveness probe only: it sends no secret and
    trusts no certificate."""
    try:
        with httpx.Client(timeout=timeout_s, verify=False, trust_env=False) as client:
            resp = client.get(normalize_url_path(url, "/v1/health"))
    except ValueError:  # a malformed URL ("http://[::1")
        return "malformed URL"
    except (OSError, httpx.HTTPError) as exc:
        return f"unreachable ({type(exc).__name__})"
    return "ok" if resp.status_code in (200, 401) else f"answered {resp.status_code}"


def normalize_url_path(url: str, path: str) -> str:
    parts = urlsplit(url if "//" in url else f"http://{url}")
    return f"{parts.scheme}://{parts.netloc}{path}"
