"""ГОСТ Р 34.10-2012 signatures over ГОСТ Р 34.11-2012 (Стрибог) digests, with gostcrypto (pure Python).

The byte conventions are those of CMS and X.509 with GOST (RFC 4491, RFC 7091, TC 26 recommendations),
which CryptoPro and OpenSSL's GOST engine follow:

* the public key is an OCTET STRING of ``X || Y``, each coordinate little-endian;
* the signature value is ``s || r``, each big-endian;
* the digest, as the integer ``e`` of the standard, is read little-endian.

gostcrypto reads every value big-endian and returns ``r || s``; :func:`verify` and :func:`sign` convert.
``sign`` exists for the tests and the benchmark (a real signer is the party's CryptoPro). No Flask here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from asn1crypto import core

# Signature and key algorithms (TC 26): a SignerInfo names either the key's OID or the "with digest" OID.
KEY_256, KEY_512 = "1.2.643.7.1.1.1.1", "1.2.643.7.1.1.1.2"
SIGN_256, SIGN_512 = "1.2.643.7.1.1.3.2", "1.2.643.7.1.1.3.3"
DIGEST_256, DIGEST_512 = "1.2.643.7.1.1.2.2", "1.2.643.7.1.1.2.3"
SIGNATURE_ALGORITHMS = {KEY_256: 256, SIGN_256: 256, KEY_512: 512, SIGN_512: 512}
DIGEST_ALGORITHMS = {DIGEST_256: 256, DIGEST_512: 512}
DIGEST_NAMES = {256: "streebog256", 512: "streebog512"}

# Curve parameter sets (RFC 7836, R 1323565.1.024-2019) by OID -> gostcrypto's name. The CryptoPro sets of
# GOST R 34.10-2001 are the same curves as TC 26's 256-bit sets B, C and D.
CURVES_256 = {
    "1.2.643.7.1.2.1.1.1": "id-tc26-gost-3410-2012-256-paramSetA",
    "1.2.643.7.1.2.1.1.2": "id-tc26-gost-3410-2012-256-paramSetB",
    "1.2.643.7.1.2.1.1.3": "id-tc26-gost-3410-2012-256-paramSetC",
    "1.2.643.7.1.2.1.1.4": "id-tc26-gost-3410-2012-256-paramSetD",
    "1.2.643.2.2.35.1": "id-tc26-gost-3410-2012-256-paramSetB",  # CryptoPro-A
    "1.2.643.2.2.35.2": "id-tc26-gost-3410-2012-256-paramSetC",  # CryptoPro-B
    "1.2.643.2.2.35.3": "id-tc26-gost-3410-2012-256-paramSetD",  # CryptoPro-C
    "1.2.643.2.2.36.0": "id-tc26-gost-3410-2012-256-paramSetB",  # CryptoPro-XchA
    "1.2.643.2.2.36.1": "id-tc26-gost-3410-2012-256-paramSetD",  # CryptoPro-XchB
}
CURVES_512 = {
    "1.2.643.7.1.2.1.2.1": "id-tc26-gost-3410-12-512-paramSetA",
    "1.2.643.7.1.2.1.2.2": "id-tc26-gost-3410-12-512-paramSetB",
    "1.2.643.7.1.2.1.2.3": "id-tc26-gost-3410-2012-512-paramSetC",
}


class GostError(ValueError):
    """A GOST key, parameter set or signature that cannot be used; the message says why."""


class GostKeyParameters(core.Sequence):
    _fields = [
        ("public_key_param_set", core.ObjectIdentifier),
        ("digest_param_set", core.ObjectIdentifier, {"optional": True}),
        ("encryption_param_set", core.ObjectIdentifier, {"optional": True}),
    ]


class _Algorithm(core.Sequence):
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any, {"optional": True})]


class GostPublicKeyInfo(core.Sequence):
    """SubjectPublicKeyInfo read with a GOST-aware spec (asn1crypto's own does not know GOST keys)."""

    _fields = [("algorithm", _Algorithm), ("public_key", core.OctetBitString)]


@dataclass(frozen=True)
class GostPublicKey:
    bits: int  # 256 or 512
    curve_oid: str
    point: bytes  # X || Y, little-endian each (as in the certificate)

    @property
    def algorithm(self) -> str:
        return f"GOST R 34.10-2012 ({self.bits} bit)"


def is_gost_key(spki_der: bytes) -> bool:
    try:
        return GostPublicKeyInfo.load(spki_der)["algorithm"]["algorithm"].dotted in (KEY_256, KEY_512)
    except ValueError:
        return False


def read_public_key(spki_der: bytes) -> GostPublicKey:
    """The GOST key of a certificate's SubjectPublicKeyInfo, with its parameter set checked."""
    info = GostPublicKeyInfo.load(spki_der, strict=True)
    algorithm = info["algorithm"]["algorithm"].dotted
    if algorithm not in (KEY_256, KEY_512):
        raise GostError(f"not a GOST R 34.10-2012 key (algorithm {algorithm})")
    bits = 256 if algorithm == KEY_256 else 512
    raw_parameters = info["algorithm"]["parameters"]
    if raw_parameters.contents is None:
        raise GostError("the GOST key names no curve parameter set")
    parameters = GostKeyParameters.load(raw_parameters.dump(), strict=True)
    curve_oid = parameters["public_key_param_set"].dotted
    curves = CURVES_256 if bits == 256 else CURVES_512
    if curve_oid not in curves:
        raise GostError(f"the {bits}-bit GOST key uses an unknown or mismatched curve parameter set ({curve_oid})")
    point = core.OctetString.load(info["public_key"].native, strict=True).native
    if len(point) != bits // 4:
        raise GostError(f"the {bits}-bit GOST public key has {len(point)} bytes, not {bits // 4}")
    key = GostPublicKey(bits, curve_oid, point)
    if not _on_curve(key):
        raise GostError("the GOST public key is not a point of its curve (wrong curve or parameters)")
    return key


@functools.cache
def _signer(bits: int, curve_oid: str):
    """gostcrypto's signature object for a curve (cached: building one checks the curve, ~0.2 s).

    The object is gostcrypto's own, with one substitution: its modular inverse is a recursive extended
    Euclid in Python, called on every point addition; Python's ``pow(x, -1, n)`` gives the same number
    about twice as fast overall (see bench/signature_bench.py). The curve arithmetic stays gostcrypto's."""
    from gostcrypto import gostsignature
    from gostcrypto.gostsignature.gost_34_10_2012 import GOST34102012

    class _Gost(GOST34102012):
        @staticmethod
        def _invert(value: int, n_mod: int) -> int:
            return pow(value, -1, n_mod)

    curves = CURVES_256 if bits == 256 else CURVES_512
    mode = gostsignature.MODE_256 if bits == 256 else gostsignature.MODE_512
    return _Gost(mode, gostsignature.CURVES_R_1323565_1_024_2019[curves[curve_oid]])


def warm() -> None:
    """Build every curve once (the template of the verification children calls this, so each child
    inherits them)."""
    for oid in CURVES_256:
        _signer(256, oid)
    for oid in CURVES_512:
        _signer(512, oid)


def _on_curve(key: GostPublicKey) -> bool:
    size = key.bits // 8
    x = int.from_bytes(key.point[:size], "little")
    y = int.from_bytes(key.point[size:], "little")
    curve = _signer(key.bits, key.curve_oid)
    # gostcrypto keeps the curve in Weierstrass form (converted from twisted Edwards for sets A/C) in these fields.
    p, a, b = curve._p, curve._a, curve._b  # noqa: SLF001 - pinned gostcrypto==1.2.5
    return 0 < x < p and 0 < y < p and (y * y - (x * x * x + a * x + b)) % p == 0


def streebog(data: bytes, bits: int) -> bytes:
    from gostcrypto import gosthash

    return bytes(gosthash.new(DIGEST_NAMES[bits], data=data).digest())


def verify(key: GostPublicKey, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (``s || r``) signs Стрибог(``data``) under ``key``."""
    from gostcrypto import gostsignature

    size = key.bits // 8
    if len(signature) != 2 * size:
        return False
    digest = streebog(data, key.bits)[::-1]
    public = key.point[:size][::-1] + key.point[size:][::-1]
    try:
        return bool(_signer(key.bits, key.curve_oid).verify(bytearray(public), bytearray(digest),
                                                             bytearray(signature[size:] + signature[:size])))
    except gostsignature.GOSTSignatureError:
        return False


def generate_key(bits: int, curve_oid: str) -> tuple[bytes, bytes]:
    """(private key, public point X||Y little-endian) for tests and the benchmark."""
    import os

    signer = _signer(bits, curve_oid)
    size = bits // 8
    while True:
        private = os.urandom(size)
        if 0 < int.from_bytes(private, "big") < signer._q:  # noqa: SLF001 - the group order
            break
    public = bytes(signer.public_key_generate(bytearray(private)))
    return private, public[:size][::-1] + public[size:][::-1]


def sign(private: bytes, bits: int, curve_oid: str, data: bytes) -> bytes:
    """``s || r`` over Стрибог(``data``), for tests and the benchmark."""
    size = bits // 8
    raw = bytes(_signer(bits, curve_oid).sign(bytearray(private), bytearray(streebog(data, bits)[::-1])))
    return raw[size:] + raw[:size]
