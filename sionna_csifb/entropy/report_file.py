"""A storage format for entropy-coded reports (files), with integrity checks.

Over the air a report's integrity is the uplink's CRC. A saved file instead carries its own:

====================  =========================================================
bytes                 content
====================  =========================================================
8                     magic ``b"CSIFBRPT"``
1                     format version (2; version 1 files without the rate-adaptive flag
                      read the same)
1                     flags (bit 0: rate-adaptive reports, with the grid header)
8                     fingerprint of the model that wrote them
                      (:meth:`~sionna_csifb.models.entropy_codec.EntropyCodec.fingerprint`)
4                     number of reports ``n`` (big-endian)
2 n                   each report's length in bits (big-endian)
ceil(sum / 8)         the reports' bits, concatenated, zero-padded to a byte
4                     CRC-32 of everything above (big-endian)
====================  =========================================================

:func:`unpack_reports` refuses anything that is not exactly such a file (wrong magic,
version or size, bad checksum, non-zero padding) and, given the reading model's fingerprint,
reports from another model, with a :class:`ReportFormatError` that says which check failed.

Examples:
    >>> import numpy as np
    >>> from sionna_csifb.entropy.coding import VariableLengthBits
    >>> p = VariableLengthBits.from_list([np.array([1, 0, 1], np.uint8), np.array([1], np.uint8)])
    >>> blob = pack_reports(p, "0123456789abcdef")
    >>> q, meta = unpack_reports(blob, "0123456789abcdef")
    >>> q.num_bits.tolist(), q.report(0).tolist(), meta["rate_adaptive"]
    ([3, 1], [1, 0, 1], False)
    >>> unpack_reports(blob[:-1])
    Traceback (most recent call last):
    ...
    sionna_csifb.entropy.report_file.ReportFormatError: checksum mismatch: the report file is corrupted or truncated.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from .coding import VariableLengthBits

__all__ = ["MAGIC", "VERSION", "ReportFormatError", "pack_reports", "unpack_reports", "save_reports",
           "load_reports"]

MAGIC = b"CSIFBRPT"
#: Version 2 range codes the rate-adaptive level symbol with
#: :data:`~sionna_csifb.models.entropy_codec.LEVEL_PROBABILITIES`; version 1 coded it uniformly, so
#: its rate-adaptive reports would decode wrongly and are refused; its other reports are the same.
VERSION = 2
_HEAD = struct.Struct(">8sBB8sI")
_MAX_REPORT_BITS = 0xFFFF


class ReportFormatError(ValueError):
    """A stored report file that is corrupted, truncated, of another version, or from another model."""


def _fingerprint_bytes(fingerprint: str) -> bytes:
    try:
        b = bytes.fromhex(fingerprint)
    except (TypeError, ValueError):
        b = b""
    if len(b) != 8:
        raise ValueError(f"`fingerprint` must be 16 hex digits, got {fingerprint!r}.")
    return b


def pack_reports(payload: VariableLengthBits, fingerprint: str, rate_adaptive: bool = False) -> bytes:
    """Serialise reports (see the module docstring)."""
    n = np.asarray(payload.num_bits, "int64")
    if n.ndim != 1 or (n < 0).any() or (n > _MAX_REPORT_BITS).any():
        raise ValueError(f"report lengths must be 0..{_MAX_REPORT_BITS} bits.")
    bits = np.concatenate([payload.report(i) for i in range(len(n))]) if len(n) else np.zeros(0, np.uint8)
    if bits.size and (bits.min() < 0 or bits.max() > 1):
        raise ValueError("reports must hold bits 0/1.")
    body = (_HEAD.pack(MAGIC, VERSION, int(bool(rate_adaptive)), _fingerprint_bytes(fingerprint), len(n))
            + n.astype(">u2").tobytes() + np.packbits(bits.astype(np.uint8)).tobytes())
    return body + struct.pack(">I", zlib.crc32(body))


def unpack_reports(blob: bytes, fingerprint: str | None = None) -> tuple[VariableLengthBits, dict]:
    """Parse a report file's bytes; ``fingerprint``: refuse reports of another model.

    Returns:
        tuple: the reports and ``{"rate_adaptive", "fingerprint", "version"}``.

    Raises:
        ReportFormatError: any failed check (the message names it).
    """
    blob = bytes(blob)
    if len(blob) < _HEAD.size + 4:
        raise ReportFormatError(f"a report file has at least {_HEAD.size + 4} bytes, got {len(blob)}.")
    if blob[:8] != MAGIC:
        raise ReportFormatError("not a sionna_csifb report file (wrong magic).")
    body, crc = blob[:-4], struct.unpack(">I", blob[-4:])[0]
    if zlib.crc32(body) != crc:
        raise ReportFormatError("checksum mismatch: the report file is corrupted or truncated.")
    _, version, flags, fp, count = _HEAD.unpack(body[:_HEAD.size])
    if version not in (1, VERSION):
        raise ReportFormatError(f"report format version {version}; this sionna_csifb reads versions 1 and {VERSION}.")
    if flags & ~1:
        raise ReportFormatError(f"unknown flags {flags:#x}.")
    if version == 1 and flags & 1:
        raise ReportFormatError("a version-1 file of rate-adaptive reports: their level symbol was coded uniformly, "
                                f"version {VERSION} codes it with LEVEL_PROBABILITIES; re-encode the CSI with this "
                                "sionna_csifb.")
    if fingerprint is not None and fp != _fingerprint_bytes(fingerprint):
        raise ReportFormatError(f"the reports were written by model {fp.hex()}, not by this model ({fingerprint}).")
    rest = body[_HEAD.size:]
    if len(rest) < 2 * count:
        raise ReportFormatError(f"the file is too short for {count} report lengths.")
    n = np.frombuffer(rest[: 2 * count], ">u2").astype("int64")
    data = rest[2 * count:]
    total = int(n.sum())
    if len(data) != -(-total // 8):
        raise ReportFormatError(f"{len(data)} payload bytes for {total} bits of reports.")
    bits = np.unpackbits(np.frombuffer(data, np.uint8))
    if bits[total:].any():
        raise ReportFormatError("non-zero padding after the last report.")
    ends = np.cumsum(n)
    reports = [bits[e - k:e] for e, k in zip(ends, n)]
    out = VariableLengthBits.from_list(reports) if count else VariableLengthBits(np.zeros((0, 0), np.uint8), n)
    return out, {"rate_adaptive": bool(flags & 1), "fingerprint": fp.hex(), "version": version}


def save_reports(path: str | Path, payload: VariableLengthBits, fingerprint: str, rate_adaptive: bool = False) -> Path:
    """Write reports to a file (see :func:`pack_reports`)."""
    p = Path(path)
    p.write_bytes(pack_reports(payload, fingerprint, rate_adaptive))
    return p


def load_reports(path: str | Path, fingerprint: str | None = None) -> tuple[VariableLengthBits, dict]:
    """Read a report file (see :func:`unpack_reports`)."""
    return unpack_reports(Path(path).read_bytes(), fingerprint)
