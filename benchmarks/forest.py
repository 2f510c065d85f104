"""Random forest prediction over a big feature store: spectra/s on a 2-worker LocalCluster.

Run: ``.venv/bin/python benchmarks/forest.py [--rows 1000000] [--trees 300] [--leaf 1,5]``.

Builds (once; reused when its shape matches) a ``rows x 1161`` float32 Zarr store under
``benchmarks/data/`` (gitignored): features of a few thousand synthetic LAMOST DR7 spectra
preprocessed by :func:`vocloud.preprocess.preprocess_block`, tiled with small noise (sigma 0.02),
in 10,000-row chunks compressed as the feature store does (Blosc lz4 + bitshuffle). Trains
:class:`vocloud.ml.forest.SpectraForest` on ``--labelled`` rows for each ``--leaf``
(min_samples_leaf), reports tree depth and the plain scikit-learn ``predict_proba`` of an
in-memory 100,000-row subset (1 and 2 threads), then times ``predict_proba`` over the whole store
on a LocalCluster (2 workers x 1 thread), reading from Zarr included, for the first ``--leaf``,
through dask-ml's ParallelPostFit and through the ``da.map_blocks`` fallback. Prints Markdown.
No timed asserts: timings on a shared 2-core box are noisy.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from pathlib import Path

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import astropy.units as u  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
import zarr  # noqa: E402

from vocloud.datasets import synthesize  # noqa: E402
from vocloud.io import Spectrum  # noqa: E402
from vocloud.ml import forest as forest_mod  # noqa: E402
from vocloud.ml.forest import SpectraForest  # noqa: E402
from vocloud.preprocess import PreprocessParams, preprocess_block  # noqa: E402
from vocloud.store import FEATURE_CODEC  # noqa: E402

DATA = Path(__file__).parent / "data"
CHUNK = 10_000
NOISE = 0.02


def base_features(n: int, seed: int = 11) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Preprocessed features, class names and grid of ``n`` synthetic spectra (ok rows only)."""
    spectra = synthesize(n, layout="lamost-dr7", seed=seed)
    params = PreprocessParams()
    res = preprocess_block(
        [
            Spectrum(s.wavelength * u.AA, s.flux, ivar=s.ivar, mask=s.mask, meta=s.meta)
            for s in spectra
        ],
        params,
    )
    ok = np.array([e is None for e in res.error])
    return res.features[ok], np.array([s.cls for s in spectra])[ok], params.grid()


def tiled(base: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = base[rows]
    out += rng.normal(0, NOISE, out.shape).astype(np.float32)
    return out


def build_store(path: Path, base: np.ndarray, grid: np.ndarray, n_rows: int) -> float:
    """Write the tiled store; returns seconds (0 when an existing store of that shape is reused)."""
    if path.exists():
        try:
            if zarr.open_array(str(path / "features"), mode="r").shape == (n_rows, grid.size):
                return 0.0
        except Exception:
            pass
    t0 = time.perf_counter()
    g = zarr.open_group(str(path), mode="w")
    feats = g.create_array(
        "features",
        shape=(n_rows, grid.size),
        chunks=(CHUNK, grid.size),
        dtype="f4",
        fill_value=np.nan,
        compressors=FEATURE_CODEC,
        dimension_names=("spectrum", "wavelength"),
    )
    w = g.create_array(
        "wavelength",
        shape=grid.shape,
        chunks=grid.shape,
        dtype="f8",
        dimension_names=("wavelength",),
    )
    w[:] = grid
    w.attrs["units"] = "Angstrom"
    rng = np.random.default_rng(0)
    for start in range(0, n_rows, CHUNK):
        stop = min(start + CHUNK, n_rows)
        block = tiled(base, rng.integers(0, len(base), stop - start), rng)
        block[rng.random(stop - start) < 0.01] = np.nan  # ~1 % failed spectra
        feats[start:stop] = block
    return time.perf_counter() - t0


def tree_stats(f: SpectraForest) -> str:
    depth = [e.get_depth() for e in f.estimator_.estimators_]
    leaves = [e.get_n_leaves() for e in f.estimator_.estimators_]
    return f"{np.mean(depth):.1f} / {np.mean(leaves):.0f}"


def _vm_hwm_kb() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM"))


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--trees", type=int, default=300)
    ap.add_argument("--labelled", type=int, default=5000)
    ap.add_argument("--base", type=int, default=4000, help="synthetic spectra tiled into the store")
    ap.add_argument("--leaf", default="1,5", help="min_samples_leaf values (first: cluster run)")
    ap.add_argument("--subset", type=int, default=100_000)
    args = ap.parse_args()
    leaves = [int(v) for v in args.leaf.split(",")]

    t0 = time.perf_counter()
    base, cls, grid = base_features(args.base)
    t_base = time.perf_counter() - t0
    path = DATA / f"forest_{args.rows}.zarr"
    t_write = build_store(path, base, grid, args.rows)
    size_gb = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e9
    print(
        f"# Forest prediction benchmark\n\nstore {path} : {args.rows:,} x {grid.size} float32, "
        f"{CHUNK:,}-row chunks, {size_gb:.2f} GB on disk "
        f"({f'written in {t_write:.0f} s' if t_write else 'reused'}); base: {len(base)} preprocessed "
        f"spectra in {t_base:.1f} s\n"
    )
    sys.stdout.flush()

    rng = np.random.default_rng(1)
    usable = np.flatnonzero(cls != "outlier")
    pick = rng.choice(usable, args.labelled, replace=True)
    X_lab, y_lab = tiled(base, pick, rng), cls[pick]
    ds = xr.open_zarr(str(path), consolidated=False)
    subset = np.asarray(ds["features"][: args.subset].values)
    subset = subset[~np.isnan(subset).any(axis=1)]
    truth_rows = rng.choice(usable, 20_000)
    X_truth, y_truth = tiled(base, truth_rows, rng), cls[truth_rows]

    print("## Training and in-memory scikit-learn predict_proba\n")
    print(
        "| min_samples_leaf | fit + 5-fold CV s (2 threads) | OOB | CV acc | held-out acc "
        "| depth / leaves per tree | model MB | sklearn 1 thread /s | sklearn 2 threads /s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    models = {}
    for leaf in leaves:
        t0 = time.perf_counter()
        f = SpectraForest(n_estimators=args.trees, min_samples_leaf=leaf, n_jobs=2, random_state=0)
        f.fit(X_lab, y_lab)
        t_fit = time.perf_counter() - t0
        models[leaf] = f
        acc = (f.predict(X_truth) == y_truth).mean()
        mb = len(pickle.dumps(f.estimator_)) / 1e6
        rates = []
        for n_jobs in (1, 2):
            est = f.estimator_.set_params(n_jobs=n_jobs)
            t0 = time.perf_counter()
            est.predict_proba(subset)
            rates.append(rate(len(subset), time.perf_counter() - t0))
        print(
            f"| {leaf} | {t_fit:.1f} | {f.oob_score_:.3f} | {f.cv_accuracy_:.3f} | {acc:.3f} "
            f"| {tree_stats(f)} | {mb:.1f} | {rates[0]} | {rates[1]} |"
        )
        sys.stdout.flush()

    from distributed import Client, LocalCluster

    f = models[leaves[0]]
    print(
        f"\n## Whole store on a LocalCluster (2 workers x 1 thread), min_samples_leaf={leaves[0]}, "
        f"{args.trees} trees\n"
    )
    print("| what | seconds | spectra/s | peak RSS per worker MB |")
    print("|---|---|---|---|")
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):

        def peak() -> str:
            kb = client.run(_vm_hwm_kb)  # workers are spawned: VmHWM is their own peak
            return " / ".join(f"{v / 1024:.0f}" for v in kb.values())

        feats = xr.open_zarr(str(path), consolidated=False)["features"]
        f.predict_proba(feats[: 2 * CHUNK]).compute()  # warm-up: imports sklearn on the workers
        t0 = time.perf_counter()
        feats.data.sum(axis=1).compute()
        dt = time.perf_counter() - t0
        print(f"| read Zarr only (row sums) | {dt:.1f} | {rate(args.rows, dt)} | {peak()} |")
        sys.stdout.flush()
        for label, use in (
            ("predict_proba, dask-ml ParallelPostFit", True),
            ("predict_proba, da.map_blocks fallback", False),
        ):
            forest_mod.USE_DASK_ML = use
            t0 = time.perf_counter()
            p = f.predict_proba(feats).compute()
            dt = time.perf_counter() - t0
            print(f"| {label} | {dt:.1f} | {rate(args.rows, dt)} | {peak()} |")
            sys.stdout.flush()
        forest_mod.USE_DASK_ML = True
        nan_rows = int(np.isnan(p[:, 0]).sum())
    main_mb = _vm_hwm_kb() / 1024
    print(
        f"\nclient process peak RSS {main_mb:.0f} MB; NaN (failed) rows predicted NaN: {nan_rows:,}; "
        f"spectra/s counts every stored row, Zarr read and decompression included."
    )


if __name__ == "__main__":
    main()
