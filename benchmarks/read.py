"""Per-file reading cost of ``vocloud.io.read_spectrum`` for every layout, against the floor.

Issue #2: the hot path must stay within 2x of "read bytes + parse header + frombuffer"
(the floor), not a generic 0.8-3 ms ``astropy.io.fits.open``. Files come from
``vocloud.datasets`` (realistic headers), are written to a temporary folder and are hot in the
page cache; each figure is the best of 5 passes over 200 files, in microseconds per file.

Usage::

    python benchmarks/read.py
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.io.fits import Header

from vocloud.datasets import synthesize, to_bytes
from vocloud.io import read_spectrum

BLOCK = 2880
END = b"END" + b" " * 77
N = 200


def floor(raw: bytes) -> int:
    """Parse every header with astropy's Header.fromstring and view every data unit."""
    pos, total = 0, 0
    while pos < len(raw):
        end = raw.find(END, pos)
        if end < 0 or (end - pos) % 80:
            break
        hlen = -(-(end - pos + 80) // BLOCK) * BLOCK
        hdr = Header.fromstring(raw[pos : pos + hlen].decode("ascii"))
        size = abs(hdr["BITPIX"]) // 8 * (hdr["NAXIS"] > 0)
        for k in range(1, hdr["NAXIS"] + 1):
            size *= hdr[f"NAXIS{k}"]
        size += hdr.get("PCOUNT", 0)
        data = np.frombuffer(raw, dtype="u1", count=size, offset=pos + hlen)
        total += data.size
        pos += hlen + -(-size // BLOCK) * BLOCK
    return total


def astropy_open(raw: bytes) -> int:
    with fits.open(io.BytesIO(raw), memmap=False) as h:
        return sum(0 if hdu.data is None else len(hdu.data) for hdu in h)


def best(fn, items, repeat: int = 5) -> float:
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for x in items:
            fn(x)
        t.append(time.perf_counter() - t0)
    return min(t) / len(items) * 1e6


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    print(
        "| layout | vocloud read_spectrum(path) | floor: bytes + Header.fromstring + frombuffer "
        "| ratio | astropy fits.open + data |"
    )
    print("|---|---|---|---|---|")
    for layout in (
        "lamost-dr7",
        "lamost-dr8",
        "sdss-coadd",
        "iraf-linear",
        "iraf-log",
        "two-column",
        "votable-sdm",
        "csv",
    ):
        spectra = synthesize(N, layout=layout, seed=1, outlier_fraction=0.0)
        paths = []
        for i, s in enumerate(spectra):
            p = tmp / f"{layout}-{i}{'.xml' if layout == 'votable-sdm' else '.dat'}"
            p.write_bytes(to_bytes(s, gzip=False))
            paths.append(str(p))
        ours = best(read_spectrum, paths)
        if layout in ("votable-sdm", "csv"):
            print(f"| {layout} | {ours:.0f} us | - | - | - |")
            continue

        def read_floor(p: str) -> int:
            with open(p, "rb") as f:
                return floor(f.read())

        def read_astropy(p: str) -> int:
            with open(p, "rb") as f:
                return astropy_open(f.read())

        fl = best(read_floor, paths)
        ap = best(read_astropy, paths[:50], repeat=2)
        print(f"| {layout} | {ours:.0f} us | {fl:.0f} us | {ours / fl:.2f} | {ap:.0f} us |")


if __name__ == "__main__":
    main()
