"""Throughput of the vocloud preprocessing on a block of spectra (single-threaded).

Run: ``OPENBLAS_NUM_THREADS=1 python benchmarks/preprocess_block.py [n_spectra]``. Prints spectra/s
(best of several repeats) of the continuum fit alone on LAMOST-like spectra (float32 and float64,
and a per-spectrum numpy loop for reference) and of the whole ``preprocess_block`` with the
VO-CLOUD H-alpha YAML on blocks of LAMOST-like spectra (one shared grid) and of synthetic
``"mixed"``, ``"sdss-coadd"`` and ``"iraf-linear"`` archives (lengths differ from spectrum to
spectrum; read back from their file bytes like a real archive).
"""

from __future__ import annotations

import os
import sys
import time

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import astropy.units as u  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from vocloud.datasets import synthesize, to_bytes  # noqa: E402
from vocloud.demo import DEMO_EXPERIMENT  # noqa: E402
from vocloud.io import read_spectrum  # noqa: E402
from vocloud.io.spectrum import Spectrum  # noqa: E402
from vocloud.preprocess import PreprocessParams, fit_continuum, preprocess_block  # noqa: E402

#: The VO-CLOUD H-alpha parameters of issue #2 (the demo experiment's `preprocess:`).
PARAMS = yaml.safe_load(DEMO_EXPERIMENT)["preprocess"]


def lamost_like(n_spectra: int, seed: int = 0) -> list[Spectrum]:
    """3909 px log-lambda 3700-9100 A, each with its own start, continuum * H-alpha + noise."""
    rng = np.random.default_rng(seed)
    n = 3909
    step = 1e-4
    out = []
    for _ in range(n_spectra):
        start = np.log10(3700.0) + rng.uniform(-2e-4, 2e-4)
        wl = 10 ** (start + step * np.arange(n))
        x = (wl - 6400.0) / 2700.0
        cont = 100.0 * (1 + 0.3 * x - 0.2 * x**2 + 0.05 * x**3)
        line = 1 + rng.uniform(0.2, 3) * np.exp(-0.5 * ((wl - 6562.8) / rng.uniform(2, 6)) ** 2)
        flux = (cont * line + rng.normal(0, 1.0, n)).astype(np.float32)
        ivar = np.ones(n, np.float32)
        out.append(Spectrum(wl * u.AA, flux, ivar=ivar, meta={"RESPOWER": 1800.0}))
    return out


def archive_block(layout: str, n_spectra: int, seed: int = 0) -> list[Spectrum]:
    """A block of synthetic spectra of ``layout``, read from their file content."""
    return [read_spectrum(to_bytes(s)) for s in synthesize(n_spectra, layout=layout, seed=seed)]


def best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def loop_fit(wl: np.ndarray, flux: np.ndarray, degree: int = 5, iterations: int = 5) -> None:
    """Reference: per-spectrum numpy sigma-clipped Chebyshev fit."""
    for w, f in zip(wl, flux):
        x = (w - w[0]) * (2 / (w[-1] - w[0])) - 1
        a = np.polynomial.chebyshev.chebvander(x, degree)
        keep = np.ones(w.size, bool)
        for _ in range(iterations + 1):
            c = np.linalg.lstsq(a[keep], f[keep], rcond=None)[0]
            r = f - a @ c
            rms = np.sqrt(np.mean(r[keep] ** 2))
            new = np.abs(r) <= 3 * rms
            if (new == keep).all():
                break
            keep = new


def main(n_spectra: int = 1000) -> None:
    params = PreprocessParams.from_dict(PARAMS)
    spectra = lamost_like(n_spectra)
    wl = np.stack([s.wavelength_aa for s in spectra])
    flux = np.stack([s.flux for s in spectra])
    cp = params.continuum
    for dtype in (np.float32, np.float64):
        t = best(lambda dtype=dtype: fit_continuum(wl, flux, None, cp, dtype=dtype))
        print(f"continuum fit {np.dtype(dtype).name}: {n_spectra / t:9.0f} spectra/s")
    f32 = fit_continuum(wl, flux, None, cp).evaluate(wl)
    f64 = fit_continuum(wl, flux, None, cp, dtype=np.float64).evaluate(wl)
    print(
        f"  float32 vs float64 continuum: max relative difference {np.abs(f32 / f64 - 1).max():.2e}"
    )
    m = min(n_spectra, 200)
    t = best(lambda: loop_fit(wl[:m], flux[:m].astype(np.float64)), repeat=2)
    print(f"continuum per-spectrum loop: {m / t:9.0f} spectra/s")
    blocks = {"lamost-like": spectra}
    for layout in ("mixed", "sdss-coadd", "iraf-linear"):
        blocks[layout] = archive_block(layout, n_spectra)
    for name, block in blocks.items():
        t = best(lambda block=block: preprocess_block(block, params))
        res = preprocess_block(block, params)
        n_ok = sum(e is None for e in res.error)
        n_len = len({s.flux.shape[0] for s in block})
        print(
            f"preprocess_block {name:12s}: {len(block) / t:9.0f} spectra/s "
            f"({n_ok}/{len(block)} ok, {n_len} lengths, {t * 1e3:.0f} ms per block)"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
