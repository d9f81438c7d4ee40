"""Leaf certificates of the emulated Connect CA (``/v1/agent/connect/ca/leaf/:service``).

As the built-in provider of a primary datacenter issues them: signed by the active root (no
intermediate), valid for ``LeafCertTTL``, a key of the CA's ``PrivateKeyType``/``Bits``, the
service's SPIFFE ID ``spiffe://<trust domain>/ns/default/dc/<dc>/svc/<service>`` as URI SAN.
A leaf is reused until the root changes, as the agent's leaf cache does while it is valid.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from airflow_provider_nomad.testing.consul.connect_ca import ConnectCA, key_settings, leaf_ttl

_CURVES = {224: ec.SECP224R1, 256: ec.SECP256R1, 384: ec.SECP384R1, 521: ec.SECP521R1}


def _colon_hex(number: int) -> str:
    raw = number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big")
    return ":".join(f"{byte:02x}" for byte in raw)


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def service_uri(ca: ConnectCA, datacenter: str, service: str) -> str:
    return f"spiffe://{ca.trust_domain}/ns/default/dc/{datacenter}/svc/{service}"


def issue_leaf(ca: ConnectCA, datacenter: str, service: str, index: int) -> dict[str, Any]:
    """The ``IssuedCert`` for ``service`` (cached per service until the root changes)."""
    root = ca.active_root()
    cached = ca.leaves.get(service)
    if cached is not None:
        return cached
    key_type, bits = key_settings(ca.config)
    if key_type == "ec":
        key: Any = ec.generate_private_key(_CURVES[bits]())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    serial = ca.next_serial()
    uri = service_uri(ca, datacenter, service)
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, service)]))
        .issuer_name(root.certificate.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(seconds=leaf_ttl(ca.config)))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier(hashlib.sha256(public).digest()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                root.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False
        )
        .sign(root.key, hashes.SHA256())
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    issued = {
        "SerialNumber": _colon_hex(serial),
        "CertPEM": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "PrivateKeyPEM": private_pem,
        "Service": service,
        "ServiceURI": uri,
        "ValidAfter": _timestamp(cert.not_valid_before_utc),
        "ValidBefore": _timestamp(cert.not_valid_after_utc),
        "CreateIndex": index,
        "ModifyIndex": index,
    }
    ca.leaves[service] = issued
    return issued
