"""The run's secret and TLS: who may talk to a site agent, and over what.

* **Token.** Every agent endpoint requires ``Authorization: Bearer <token>``, the
  run's secret (at least 32 characters; ``greenhop run`` makes one with
  :func:`new_token` and hands it to the agents it starts through a file only their
  user can read). Agents started by an operator (``greenhop agent serve``) read it
  from ``--token-file``. Comparison is constant-time.
* **TLS.** :func:`make_run_ca` generates a per-run certificate authority and one
  server certificate per agent (for ``127.0.0.1``, ``localhost`` and any host names
  given); clients verify the agent's certificate against that CA only
  (:class:`Credentials` ``ca_file``), so a machine outside the run cannot pose as an
  agent. TLS is required whenever an agent listens beyond loopback.

``cryptography`` is a core dependency; it is imported only when a CA is made.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import os
import secrets
import ssl
import stat
from dataclasses import dataclass
from pathlib import Path

from greenhop.core.errors import ConfigError

MIN_TOKEN_CHARS = 32
"""Shortest accepted secret [characters]."""


@dataclass(frozen=True)
class Credentials:
    """What a client of the agents needs: the run's ``token`` and the CA file (PEM) that
    signed the agents' certificates (None: plain HTTP, loopback only)."""

    token: str | None = None
    ca_file: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def verify(self) -> ssl.SSLContext | bool:
        """What httpx's ``verify`` gets: a context trusting only the run's CA."""
        if self.ca_file is None:
            return True
        ctx = ssl.create_default_context(cafile=self.ca_file)
        return ctx


def new_token() -> str:
    """A fresh run secret (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def check_token(token: str, where: str) -> str:
    token = token.strip()
    # a control character cannot travel in a header: no request would ever match
    if len(token) < MIN_TOKEN_CHARS or not token.isascii() or not token.isprintable() or any(
            c.isspace() for c in token):
        raise ConfigError(f"{where}: the token must be at least {MIN_TOKEN_CHARS} printable "
                          "ASCII characters without spaces (make one with "
                          "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    return token


def read_token_file(path: str | Path, option: str = "--token-file") -> str:
    """The secret in ``path`` (one line); a :class:`ConfigError` naming ``option`` and
    saying what is wrong."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{option} {p}: no such file; write the secret into it "
                          "(one line, readable by this user only)")
    if p.is_dir():
        raise ConfigError(f"{option} {p}: is a directory, not a token file")
    if not p.is_file():  # a FIFO or a device would block or never end
        raise ConfigError(f"{option} {p}: not a regular file; write the secret into one")
    try:
        text = p.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{option} {p}: cannot read it ({exc})") from None
    token = check_token(text, f"{option} {p}")
    mode = stat.S_IMODE(p.stat().st_mode)
    if os.name == "posix" and mode & 0o077:
        # A secret other users can read is no secret (ssh refuses such keys too).
        raise ConfigError(f"{option} {p}: other users may read or change it (mode "
                          f"{mode:04o}); make it yours alone: chmod 600 {p}")
    return token


def write_secret(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` readable by this user only (0600), atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


def token_matches(header: str | None, token: str) -> bool:
    """True when an ``Authorization`` header carries ``token`` (constant-time)."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), token.encode())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerCert:
    """PEM files of one agent's certificate and key."""

    cert_file: str
    key_file: str


def make_run_ca(directory: str | Path, sites: list[str],
                hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
                valid_days: int = 7) -> tuple[str, dict[str, ServerCert]]:
    """Generate a per-run CA and one server certificate per site in ``directory``;
    returns ``(ca_file, {site: ServerCert})``. Keys are written 0600."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "greenhop run CA")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=valid_days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=True, key_cert_sign=True, crl_sign=True,
                   content_commitment=False, key_encipherment=False, data_encipherment=False,
                   key_agreement=False, encipher_only=False, decipher_only=False),
                   critical=True)
               .sign(ca_key, hashes.SHA256()))
    ca_file = d / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    alt = []
    for h in hosts:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            alt.append(x509.DNSName(h))
    out = {}
    for site in sites:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, site)]))
                .issuer_name(ca_name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=valid_days))
                .add_extension(x509.SubjectAlternativeName(alt), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        cert_file = d / f"{site}.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file = write_secret(d / f"{site}.key", key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode())
        out[site] = ServerCert(str(cert_file), str(key_file))
    return str(ca_file), out
