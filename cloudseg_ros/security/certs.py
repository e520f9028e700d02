"""A test certificate authority and certificates for the cloud and each robot (mutual TLS).

`cloudseg certs --out DIR` writes, for a trial or a lab fleet: ``ca.pem`` (the CA every side
trusts), ``cloud.pem``/``cloud.key`` (server certificate, names of the cloud host in its
subject alternative names) and ``<robot>.pem``/``<robot>.key`` per robot, whose common name IS
the robot id: zenoh's access control matches that name (``cert_common_names``), so a robot can
only use its own keys. Production fleets should use their own PKI; the file layout stays.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 365


@dataclass(frozen=True)
class Identity:
    cert: Path
    key: Path


def file_stem(common_name: str) -> str:
    """The name of an identity's files in the fleet folder (a namespace's / is no file name)."""
    return common_name.replace("/", "_")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cloudseg_ros"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])  # fmt: skip


def _write(path: Path, data: bytes, private: bool = False) -> Path:
    """A private key is created readable by its owner only (not written, then restricted:
    another user could open it in between); an existing file is replaced."""
    if not private:
        path.write_bytes(data)
        return path
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())  # fmt: skip


class CertificateAuthority:
    """A self-signed CA that signs the cloud's and the robots' certificates."""

    def __init__(self, out: Path, common_name: str = "cloudseg test CA") -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(self.key, hashes.SHA256())
        )  # fmt: skip
        self.path = _write(out / "ca.pem", self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, common_name: str, hosts: list[str], server: bool) -> Identity:
        """A certificate for ``common_name``; ``hosts`` (DNS names or IPs) go into its SANs."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        sans: list[x509.GeneralName] = []
        for host in hosts or [common_name]:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        stem = file_stem(common_name)
        return Identity(
            _write(self.out / f"{stem}.pem", cert.public_bytes(serialization.Encoding.PEM)),
            _write(self.out / f"{stem}.key", _key_pem(key), private=True),
        )
