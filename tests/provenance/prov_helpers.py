"""Helpers for provenance tests: images and signatures made the way generators make them.

Imported relatively (``from .prov_helpers import ...``), as pytest runs in
importlib mode.
"""

from __future__ import annotations

import datetime
import io
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image


def png_bytes(size: tuple[int, int] = (64, 64), **save_kwargs: object) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (90, 120, 150)).save(buf, "PNG", **save_kwargs)
    return buf.getvalue()


def jpeg_bytes(size: tuple[int, int] = (64, 64), **save_kwargs: object) -> bytes:
    buf = io.BytesIO()
    noise = np.random.default_rng(1).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(noise).save(buf, "JPEG", quality=90, **save_kwargs)
    return buf.getvalue()


def xmp_packet(body: str, *, as_attribute: str = "") -> str:
    """A complete XMP packet as Adobe/IPTC tools write it."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
        f'xmlns:dc="http://purl.org/dc/elements/1.1/" {as_attribute}>{body}</rdf:Description>'
        '</rdf:RDF></x:xmpmeta>\n<?xpacket end="w"?>'
    )


@dataclass(frozen=True)
class Chain:
    """A self-made ES256 chain: root CA and a signing certificate issued by it."""

    root_pem: bytes
    chain_pem: bytes  # signing cert then root, as c2pa signers expect
    key_pem: bytes


def make_chain() -> Chain:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "synthtrace tests")])

    def usage(sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=not sign,
                             crl_sign=not sign, encipher_only=False, decipher_only=False)

    root_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    validity = dict(not_valid_before=now - datetime.timedelta(days=1), not_valid_after=now + datetime.timedelta(days=30))
    root = (x509.CertificateBuilder(subject_name=name("synthtrace Test Root CA"),
                                    issuer_name=name("synthtrace Test Root CA"), public_key=root_key.public_key(),
                                    serial_number=x509.random_serial_number(), **validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(usage(False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder(subject_name=name("synthtrace Test Signer"), issuer_name=root.subject,
                                    public_key=leaf_key.public_key(), serial_number=x509.random_serial_number(),
                                    **validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return Chain(
        root_pem=root.public_bytes(pem),
        chain_pem=leaf.public_bytes(pem) + root.public_bytes(pem),
        key_pem=leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


AI_ACTIONS = {
    "actions": [{
        "action": "c2pa.created",
        "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
        "softwareAgent": {"name": "TestDiffusion", "version": "2.1"},
    }]
}


def sign_c2pa(chain: Chain, source: bytes, mime: str, actions: dict | None = None,
              ingredient: bytes | None = None) -> bytes:
    """Sign ``source`` with c2pa-python's Builder, the way a generator would."""
    c2pa = pytest.importorskip("c2pa", reason="c2pa-python (synthtrace[c2pa]) is not installed")
    manifest = {
        "claim_generator_info": [{"name": "synthtrace-test-generator", "version": "0.1"}],
        "title": "test image",
        "assertions": [{"label": "c2pa.actions", "data": actions or AI_ACTIONS}],
    }
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain.chain_pem, chain.key_pem, None))
    ctx = c2pa.Context.from_dict({"verify": {"ocsp_fetch": False, "remote_manifest_fetch": False}})
    with c2pa.Builder.from_json(manifest, context=ctx) as builder:
        if ingredient is not None:
            builder.add_ingredient({"title": "parent.jpg", "relationship": "parentOf"}, "image/jpeg",
                                   io.BytesIO(ingredient))
        dst = io.BytesIO()
        builder.sign(signer, mime, io.BytesIO(source), dst)
    return dst.getvalue()
