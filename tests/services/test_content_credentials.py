"""C2PA Content Credentials on both backend sets: a provider's signed picture is kept untouched
and handed over by the ``original`` preset; with a client's signing certificate, every re-encoded
picture carries our own manifest, validated by c2pa-python, naming the provider's as ingredient.

The certificates are made here, with ``cryptography``: a CA and a signer each for the provider
and for the brand.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from tests import factories
from tests.exiftool import read_tags, tag
from visualizer_core import backends
from visualizer_core.ai.base import GenerationRequest, GenerationResult
from visualizer_core.ai.local import LocalAI
from visualizer_core.db import repo
from visualizer_core.errors import Forbidden, InvalidInput
from visualizer_core.images import content_credentials, provenance
from visualizer_core.images.content_credentials import SigningCredentials
from visualizer_core.scope import ADMIN, Role
from visualizer_core.services import analysis, export, gallery, generation
from visualizer_core.storage import keys


def certificate_chain(organisation: str, *, days: int = 30) -> tuple[SigningCredentials, str]:
    """A signer's credentials (its certificate, then its CA's) and the CA certificate (PEM)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation} test CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        ]
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    signer = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation} signer"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                ]
            )
        )
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    def pem(certificate: x509.Certificate) -> str:
        return certificate.public_bytes(serialization.Encoding.PEM).decode()

    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return SigningCredentials(pem(signer) + pem(ca), private), pem(ca)


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


class SigningProvider:
    """The local AI, whose pictures come back as a provider's do: PNG, signed with the
    provider's own C2PA manifest (``c2pa.created``, trainedAlgorithmicMedia)."""

    name = "local"
    image_model = "provider-image-model"
    text_model = LocalAI.text_model

    def __init__(self, credentials: SigningCredentials) -> None:
        self.local = LocalAI()
        self.credentials = credentials

    def __getattr__(self, name: str) -> Any:
        return getattr(self.local, name)

    def generate(self, request: GenerationRequest) -> GenerationResult:
        made = self.local.generate(request)
        png = io.BytesIO()
        with Image.open(io.BytesIO(made.image)) as picture:
            picture.save(png, "PNG")
        signed = content_credentials.sign(
            png.getvalue(),
            "png",
            self.credentials,
            title="provider.png",
            source_type=provenance.TRAINED,
        )
        return GenerationResult(
            image=signed, mime_type="image/png", model=self.image_model, meta={}
        )


@pytest.fixture
def signed_by_provider(
    backend: backends.Backends, reconfigure: Callable[..., backends.Backends]
) -> dict[str, Any]:
    """Two approved images whose provider signed them; the provider's CA certificate."""
    provider, provider_ca = certificate_chain("Image Provider")
    current = reconfigure(ai=SigningProvider(provider))
    client = factories.create_client()
    session = factories.create_session(client.id)
    products = factories.import_catalog(
        client.id,
        (
            ("SOFA-1", "Linen Sofa", "sofa", "living_room", (90, 60, 60)),
            ("BED-2", "Haven Bed", "bed", "bedroom", (150, 120, 160)),
        ),
    )
    factories.add_rooms(session.id, ("living_room", "bedroom"))
    analysis.match_session(ADMIN, session_id=session.id)
    flow = generation.generate(ADMIN, session_id=session.id, dispatch=False)
    with current.transaction() as db:
        rows = [r.id for r in repo.images_of_flow(db, flow.flow_id)]
    for image_id in rows:
        assert generation.process_image(image_id, worker_id="test") == "completed"
    gallery.review_images(ADMIN, image_ids=rows, review_state="approved")
    return {
        "client": client,
        "session": session,
        "products": products,
        "images": rows,
        "provider_ca": provider_ca,
        "backends": current,
    }


def pictures(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist() if n != "manifest.csv"}


def test_the_original_preset_hands_the_providers_signed_bytes_over_untouched(
    signed_by_provider: dict[str, Any], tmp_path: Path
) -> None:
    world = signed_by_provider
    storage = world["backends"].storage
    kept = {}
    for image_id in world["images"]:
        prefix = keys.provider_image_prefix(world["client"].id, world["session"].id, image_id)
        [key] = storage.list(prefix)
        assert key.endswith(".provider.png")
        kept[image_id.hex[:8]] = storage.get(key)
    out = tmp_path / "original.zip"
    export.export_session(ADMIN, session_id=world["session"].id, out=out, preset="original")
    files = pictures(out)
    assert sorted(files) == ["BED-2_1.png", "SOFA-1_1.png"]
    assert sorted(files.values()) == sorted(kept.values())  # byte for byte
    for data in files.values():
        report = content_credentials.manifest_report(
            data, "image/png", trust_anchors=world["provider_ca"]
        )
        assert report["validation_state"] == "Trusted"


def test_a_clients_certificate_signs_every_reencoded_picture_naming_the_providers(
    signed_by_provider: dict[str, Any], tmp_path: Path
) -> None:
    world = signed_by_provider
    ours, our_ca = certificate_chain("Oak and Co")
    assert export.set_signing_credentials(
        ADMIN,
        client_id=world["client"].id,
        certificate_chain=ours.certificate_chain,
        private_key=ours.private_key,
    )
    for preset, mime in (("shopify", "image/jpeg"), ("merchant-additional", "image/jpeg")):
        out = tmp_path / f"{preset}.zip"
        export.export_session(ADMIN, session_id=world["session"].id, out=out, preset=preset)
        files = pictures(out)
        assert len(files) == 2
        for name, data in files.items():
            report = content_credentials.manifest_report(
                data, mime, trust_anchors=our_ca + world["provider_ca"]
            )
            assert report["validation_state"] == "Trusted", report.get("validation_status")
            active = report["manifests"][report["active_manifest"]]
            assert active["signature_info"]["issuer"] == "Oak and Co"
            [ingredient] = active["ingredients"]
            assert ingredient["relationship"] == "parentOf"
            parent = report["manifests"][ingredient["active_manifest"]]
            assert parent["signature_info"]["issuer"] == "Image Provider"
            (tmp_path / name).write_bytes(data)
            entry = read_tags([tmp_path / name])[name]
            assert tag(entry, "DigitalSourceType") == [provenance.TRAINED]  # kept by signing


def test_signing_credentials_are_checked_before_they_are_kept(
    signed_by_provider: dict[str, Any],
) -> None:
    client_id = signed_by_provider["client"].id
    ours, _ = certificate_chain("Oak and Co")
    other, _ = certificate_chain("Someone else")
    with pytest.raises(InvalidInput, match="not the signing certificate's"):
        export.set_signing_credentials(
            ADMIN,
            client_id=client_id,
            certificate_chain=ours.certificate_chain,
            private_key=other.private_key,
        )
    with pytest.raises(InvalidInput, match="cannot be read"):
        export.set_signing_credentials(
            ADMIN, client_id=client_id, certificate_chain="not a pem", private_key="nor this"
        )
    editor = factories.member_scope(client_id, Role.EDITOR)
    with pytest.raises(Forbidden):
        export.set_signing_credentials(
            editor,
            client_id=client_id,
            certificate_chain=ours.certificate_chain,
            private_key=ours.private_key,
        )
    assert not export.set_signing_credentials(
        ADMIN, client_id=client_id, certificate_chain="", private_key=""
    )
