"""The Connect CA of an emulated datacenter: its configuration and its root certificate.

As a dev agent runs it: the built-in ``consul`` provider with ``LeafCertTTL`` 72h,
``IntermediateCertTTL`` 8760h and ``RootCertTTL`` 87600h, and an EC P-256 root whose trust
domain is ``<cluster ID>.consul`` (SPIFFE URI SAN, DNS name constraint). The root is a real
self-signed certificate (``cryptography``), made on first use; an update that changes the key
type or size, or a given ``RootCert``/``PrivateKey``, rotates it. Updates are validated as
``CommonCAProviderConfig.Validate`` (``agent/structs/connect_ca.go``) does, with its texts.
Only the ``consul`` provider runs here: ``vault`` and ``aws-pca`` need their services.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.durations import parse_duration

CONSUL_PROVIDER = "consul"
KNOWN_PROVIDERS = (CONSUL_PROVIDER, "vault", "aws-pca")
DEFAULT_CONFIG = {"LeafCertTTL": "72h", "IntermediateCertTTL": "8760h", "RootCertTTL": "87600h"}
_DEFAULT_KEY = ("ec", 256)
_EC_CURVES = {224: ec.SECP224R1, 256: ec.SECP256R1, 384: ec.SECP384R1, 521: ec.SECP521R1}


def _go_duration(seconds: float) -> str:
    """Go's ``Duration.String`` for whole seconds (``72h0m0s``)."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _colon_hex(data: bytes) -> str:
    return ":".join(f"{byte:02x}" for byte in data)


def _config_value(config: dict[str, Any], name: str) -> Any:
    for key, value in config.items():
        if str(key).lower().replace("_", "") == name.lower():
            return value
    return None


def _duration(config: dict[str, Any], name: str) -> float:
    value = _config_value(config, name)
    if value in (None, ""):
        value = DEFAULT_CONFIG.get(name, "0s")
    try:
        return value / 1e9 if isinstance(value, (int, float)) else parse_duration(str(value))
    except ValueError as exc:
        raise errors.ConsulHTTPError(
            500,
            f"error parsing CA config: 1 error(s) decoding:\n\n* error decoding '{name}': {exc}",
        ) from exc


def leaf_ttl(config: dict[str, Any]) -> float:
    return _duration(config, "LeafCertTTL")


def key_settings(config: dict[str, Any]) -> tuple[str, int]:
    return _key_settings(config)


def _key_settings(config: dict[str, Any]) -> tuple[str, int]:
    key_type = str(_config_value(config, "PrivateKeyType") or _DEFAULT_KEY[0])
    bits = int(_config_value(config, "PrivateKeyBits") or (256 if key_type == "ec" else 2048))
    return key_type, bits


def validate(provider: str, config: dict[str, Any]) -> None:
    """Refuse what Consul refuses for a new CA configuration (500, as the RPC error)."""
    if provider not in KNOWN_PROVIDERS:
        raise errors.ConsulHTTPError(500, f"unknown CA provider {errors.go_quote(provider)}")
    if provider != CONSUL_PROVIDER:
        raise errors.ConsulHTTPError(
            501, f"the Consul emulator runs only the consul CA provider, not {provider}"
        )
    leaf = _duration(config, "LeafCertTTL")
    intermediate = _duration(config, "IntermediateCertTTL")
    root = _duration(config, "RootCertTTL")
    problem = ""
    if root < intermediate:
        problem = (
            "root cert TTL is set and is not greater than intermediate cert ttl. root cert "
            f"ttl: {_go_duration(root)}, intermediate cert ttl: {_go_duration(intermediate)}"
        )
    elif leaf < 3600:
        problem = "leaf cert TTL must be greater or equal than 1h0m0s"
    elif leaf > 365 * 24 * 3600:
        problem = "leaf cert TTL must be less than 8760h0m0s"
    elif intermediate < 3 * leaf:
        problem = (
            "Intermediate Cert TTL must be greater or equal than 3 * LeafCertTTL "
            f"(>={_go_duration(3 * leaf)})."
        )
    else:
        key_type, bits = _key_settings(config)
        if key_type not in ("ec", "rsa"):
            problem = "private key type must be either 'ec' or 'rsa'"
        elif key_type == "ec" and bits not in _EC_CURVES:
            problem = "EC key length must be one of (224, 256, 384, 521) bits"
        elif key_type == "rsa" and bits not in (2048, 4096):
            problem = "RSA key length must be 2048 or 4096 bits"
    if problem:
        raise errors.ConsulHTTPError(500, problem)


@dataclass
class CARoot:
    """The active root: its certificate and what ``/v1/connect/ca/roots`` says of it."""

    pem: str
    root_id: str
    signing_key_id: str
    serial: int
    not_before: datetime
    not_after: datetime
    key_type: str
    key_bits: int
    create_index: int
    #: What signs the leaf certificates (:mod:`.connect_leaf`); never answered.
    certificate: x509.Certificate = field(repr=False)
    key: Any = field(repr=False)

    def to_api(self, cluster_id: str) -> dict[str, Any]:
        return {
            "ID": self.root_id,
            "Name": "Consul CA Primary Cert",
            "SerialNumber": self.serial,
            "SigningKeyID": self.signing_key_id,
            "ExternalTrustDomain": cluster_id,
            "NotBefore": self.not_before.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "NotAfter": self.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "RootCert": self.pem,
            "IntermediateCerts": None,
            "Active": True,
            "PrivateKeyType": self.key_type,
            "PrivateKeyBits": self.key_bits,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.create_index,
        }


def _make_root(
    cluster_id: str, key_type: str, bits: int, ttl: float, index: int, serial: int
) -> CARoot:
    if key_type == "ec":
        key: Any = ec.generate_private_key(_EC_CURVES[bits]())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    trust_domain = f"{cluster_id}.consul"
    name = x509.Name(
        [
            x509.NameAttribute(
                NameOID.COMMON_NAME,
                f"pri-{secrets.token_hex(4)}.consul.ca.{cluster_id[:8]}.consul",
            )
        ]
    )
    now = datetime.now(timezone.utc).replace(microsecond=0)
    key_id = hashlib.sha256(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).digest()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(seconds=ttl))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier(key_id), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier(key_id, None, None),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(f"spiffe://{trust_domain}")]
            ),
            critical=False,
        )
        .add_extension(
            x509.NameConstraints(
                permitted_subtrees=[x509.DNSName(trust_domain)], excluded_subtrees=None
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return CARoot(
        pem=pem,
        # Consul's root ID is the certificate's SHA-1 fingerprint.
        root_id=_colon_hex(hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).digest()),
        signing_key_id=_colon_hex(key_id),
        serial=serial,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=key_type,
        key_bits=bits,
        create_index=index,
        certificate=cert,
        key=key,
    )


@dataclass
class ConnectCA:
    """One datacenter's CA: configuration, cluster ID and (lazily) its active root."""

    cluster_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    provider: str = CONSUL_PROVIDER
    config: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_CONFIG))
    force_without_cross_signing: bool = False
    create_index: int = 1
    modify_index: int = 1
    root: CARoot | None = None
    #: Leaf certificates issued by the active root, by service name.
    leaves: dict[str, dict[str, Any]] = field(default_factory=dict)
    _serial: int = 0

    def next_serial(self) -> int:
        self._serial += 1
        return self._serial

    @property
    def trust_domain(self) -> str:
        return f"{self.cluster_id}.consul"

    def configuration_api(self) -> dict[str, Any]:
        return {
            "Provider": self.provider,
            "Config": copy.deepcopy(self.config),
            "State": None,
            "ForceWithoutCrossSigning": self.force_without_cross_signing,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }

    def active_root(self) -> CARoot:
        if self.root is None:
            key_type, bits = _key_settings(self.config)
            self.leaves = {}  # issued by the previous root
            self.root = _make_root(
                self.cluster_id,
                key_type,
                bits,
                _duration(self.config, "RootCertTTL"),
                self.modify_index,
                self.next_serial(),
            )
        return self.root

    def roots_api(self) -> dict[str, Any]:
        root = self.active_root()
        return {
            "ActiveRootID": root.root_id,
            "TrustDomain": self.trust_domain,
            "Roots": [root.to_api(self.cluster_id)],
        }

    def update(self, provider: str, config: dict[str, Any], force: bool, index: int) -> None:
        """Apply a validated configuration; a new key type or size makes a new root."""
        before = _key_settings(self.config)
        self.provider, self.config = provider, copy.deepcopy(config)
        self.force_without_cross_signing = force
        self.modify_index = index
        if _key_settings(self.config) != before or _config_value(config, "PrivateKey"):
            self.root = None
