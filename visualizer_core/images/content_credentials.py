"""C2PA Content Credentials: a provider's kept, our own signed where a client gives a key.

An image model may sign its pictures with a C2PA manifest (a signed record of who made the
picture and how). The manifest covers the file's bytes, so any re-encode (a resize, another
format, even a rewritten header) invalidates it. The project therefore:

- keeps the provider's bytes untouched beside the stored picture when they carry a manifest
  (:func:`present`), for the ``original`` preset to hand over as they came;
- where a client has configured a signing certificate and key (:class:`SigningCredentials`),
  signs every re-encoded picture with a manifest of our own (:func:`sign`): the picture's IPTC
  digital source type, what was done (``c2pa.opened`` the provider's picture, then
  ``c2pa.resized``/``c2pa.converted``), and the provider's picture, with its manifest, as the
  ``parentOf`` ingredient; without a provider's manifest, ``c2pa.created`` with the source type.

Signing and reading are c2pa-python's (the Content Authenticity Initiative's c2pa-rs in the
wheel); keys and certificates are checked with ``cryptography`` before they are kept.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

__all__ = ["SigningCredentials", "manifest_report", "present", "sign"]

_MIME = {"jpeg": "image/jpeg", "webp": "image/webp", "png": "image/png"}
_INGREDIENT = "provider-image"
CLAIM_GENERATOR = {"name": "Visualizer", "version": "1"}


@dataclass(frozen=True)
class SigningCredentials:
    """A client's C2PA signing certificate chain (PEM, signer first) and private key (PEM)."""

    certificate_chain: str
    private_key: str

    def algorithm(self) -> str:
        """The C2PA signing algorithm the key's type calls for."""
        key = serialization.load_pem_private_key(self.private_key.encode(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}[
                key.curve.name
            ]
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return "ed25519"
        if isinstance(key, rsa.RSAPrivateKey):
            return "ps256"
        raise ValueError("the key is not an EC (P-256/384/521), Ed25519 or RSA key")

    def problem(self) -> str | None:
        """Why these credentials cannot sign (None when they can): unreadable, expired, or a
        key that is not the certificate's."""
        try:
            chain = x509.load_pem_x509_certificates(self.certificate_chain.encode())
            key = serialization.load_pem_private_key(self.private_key.encode(), password=None)
            self.algorithm()
        except (ValueError, TypeError, KeyError) as error:
            return f"the certificate or key cannot be read ({error})"
        if not chain:
            return "no certificate was given"
        signer = chain[0]
        now = dt.datetime.now(dt.UTC)
        if not signer.not_valid_before_utc <= now <= signer.not_valid_after_utc:
            return "the signing certificate is not valid now"
        public = serialization.PublicFormat.SubjectPublicKeyInfo
        encoding = serialization.Encoding.DER
        if signer.public_key().public_bytes(encoding, public) != key.public_key().public_bytes(
            encoding, public
        ):
            return "the private key is not the signing certificate's"
        return None


def present(data: bytes, mime: str) -> bool:
    """Whether the picture carries a C2PA manifest c2pa-rs can read."""
    if b"c2pa" not in data:  # every manifest store is labelled so (its JUMBF box)
        return False
    try:
        with c2pa.Reader(mime, io.BytesIO(data)) as reader:
            return bool(json.loads(reader.json()).get("active_manifest"))
    except c2pa.C2paError:
        return False


def sign(
    data: bytes,
    fmt: str,
    credentials: SigningCredentials,
    *,
    title: str,
    source_type: str,
    ingredient: tuple[bytes, str] | None = None,
    resized: bool = True,
) -> bytes:
    """``data`` (a picture in ``fmt``: jpeg, webp or png) with our signed manifest.

    ``ingredient`` is the provider's picture and its MIME type, named as the ``parentOf``
    ingredient with its own manifest; without one the manifest says the picture was created
    with ``source_type``. Raises ``c2pa.C2paError`` when c2pa-rs refuses.
    """
    if ingredient is None:
        actions: list[dict[str, Any]] = [
            {"action": "c2pa.created", "digitalSourceType": source_type}
        ]
    else:
        actions = [
            {"action": "c2pa.opened", "parameters": {"ingredientIds": [_INGREDIENT]}},
            {"action": "c2pa.resized" if resized else "c2pa.converted"},
        ]
    manifest = {
        "claim_generator_info": [CLAIM_GENERATOR],
        "title": title,
        "format": _MIME[fmt],
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
    }
    info = c2pa.C2paSignerInfo(
        alg=credentials.algorithm().encode(),
        sign_cert=credentials.certificate_chain.encode(),
        private_key=credentials.private_key.encode(),
        ta_url=None,
    )
    out = io.BytesIO()
    with c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest) as builder:
        if ingredient is not None:
            picture, mime = ingredient
            builder.add_ingredient(
                {"title": "provider image", "relationship": "parentOf", "label": _INGREDIENT},
                mime,
                io.BytesIO(picture),
            )
        builder.sign(signer, _MIME[fmt], io.BytesIO(data), out)
    return out.getvalue()


def manifest_report(data: bytes, mime: str, *, trust_anchors: str | None = None) -> dict[str, Any]:
    """c2pa-rs's report of the picture's manifests and their validation (``validation_state``
    ``Trusted`` when the signer chains to one of ``trust_anchors``, PEM)."""
    context = None
    if trust_anchors:
        settings = c2pa.Settings.from_dict(
            {"verify": {"verify_trust": True}, "trust": {"trust_anchors": trust_anchors}}
        )
        context = c2pa.Context(settings=settings)
    with c2pa.Reader(mime, io.BytesIO(data), context=context) as reader:
        report: dict[str, Any] = json.loads(reader.json())
    return report
