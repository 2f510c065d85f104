"""Throughput and quality of vocloud's batch SOM against minisom and somoclu (same run, same data).

Run::

    .venv/bin/python benchmarks/som.py                       # 200,000 x 200, 30 x 30, 10 epochs
    .venv/bin/python benchmarks/som.py --rows 50000 --epochs 5 --map 20   # quick

Prints a Markdown table: samples/s per epoch (``rows * epochs / wall time of fit``; our fit also
includes the PCA-init pass and a final error pass), quantisation and topographic error after the
same number of epochs, and peak RSS. The data: a mixture of 40 Gaussian clusters on a curved
3-D manifold in ``--features`` dimensions plus noise, float32.

vocloud is timed on the whole data set three ways: numpy input (chunk loop, BLAS threads), a dask
array in memory on the threaded scheduler, and a Zarr-backed dask array on a LocalCluster of 2
single-threaded worker processes. minisom (pure Python per sample) and somoclu (GPL-3, OpenMP;
benchmark only, never a dependency: ``CUDAHOME=/nonexistent pip install --no-build-isolation
somoclu``) are timed on a subset (``--subset``); ours is fitted on the same subset for the quality
columns. No timed asserts.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from typing import Any

import numpy as np

from vocloud.ml.som import SOM


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_data(n: int, f: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = rng.uniform(-1, 1, size=(40, 3))
    basis = rng.normal(size=(8, f)) / np.sqrt(f) * 6
    centres = (
        np.column_stack([t, np.sin(3 * t), t[:, :1] * t[:, 1:2], np.cos(2 * t[:, 2:3])]) @ basis
    )
    X = np.empty((n, f), dtype=np.float32)
    for s in range(0, n, 20_000):
        m = min(20_000, n - s)
        lab = rng.integers(0, 40, m)
        X[s : s + m] = centres[lab] + 0.3 * rng.normal(size=(m, f))
    return X


def row(
    name: str, n: int, epochs: int, seconds: float, som: SOM | None, X: np.ndarray, note: str = ""
) -> str:
    rate = n * epochs / seconds
    qe = te = float("nan")
    if som is not None:
        qe, te = som.quantization_error(X), som.topographic_error(X)
    line = f"| {name} | {n:,} | {seconds:.2f} | {rate:,.0f} | {qe:.4f} | {te:.4f} | {peak_rss_mb():.0f} | {note} |"
    print(line, flush=True)
    return line


def wrap(codebook: np.ndarray, f: int) -> SOM:
    """An SOM holding a foreign codebook, to measure its errors with our chunked functions."""
    som = SOM(shape=codebook.shape[:2])
    som.codebook_ = np.asarray(codebook, dtype=np.float64)
    som.n_features_in_ = f
    return som


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--features", type=int, default=200)
    p.add_argument("--map", type=int, default=30, help="map side (map x map neurons)")
    p.add_argument("--cols", type=int, default=None, help="map columns (default: --map)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--chunks", type=int, default=16, help="row chunks of the dask arrays")
    p.add_argument(
        "--subset", type=int, default=4000, help="rows for minisom/somoclu and the quality columns"
    )
    p.add_argument("--skip-cluster", action="store_true")
    a = p.parse_args(argv)
    shape = (a.map, a.cols or a.map)
    n, f, e = a.rows, a.features, a.epochs
    X = make_data(n, f)
    sub = X[: a.subset]
    base = peak_rss_mb()
    print(
        f"data {n:,} x {f} float32 ({X.nbytes / 1e6:.0f} MB), map {shape[0]} x {shape[1]}, {e} epochs, "
        f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}; RSS after making the data {base:.0f} MB\n"
    )
    print(
        "| method | rows | fit s | samples/s per epoch | QE | TE | peak RSS MB (process) | note |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    kw: dict[str, Any] = dict(shape=shape, epochs=e, random_state=0)

    # --- ours, numpy input (chunk loop; BLAS uses both cores)
    t0 = time.perf_counter()
    som = SOM(**kw, chunk_size=10_000).fit(X)
    row(
        "vocloud SOM, numpy input",
        n,
        e,
        time.perf_counter() - t0,
        som,
        X,
        "chunks of 10,000 rows, BLAS threads",
    )

    # --- ours, dask threaded scheduler
    import dask
    import dask.array as da

    dX = da.from_array(X, chunks=(-(-n // a.chunks), -1))
    with dask.config.set(scheduler="threads"):
        t0 = time.perf_counter()
        som_t = SOM(**kw).fit(dX)
        dt = time.perf_counter() - t0
    row("vocloud SOM, dask threads", n, e, dt, som_t, X, f"{dX.numblocks[0]} row chunks")

    # --- ours, Zarr-backed dask array on a 2-worker LocalCluster
    if not a.skip_cluster:
        from distributed import Client, LocalCluster

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "features.zarr")
            dX.to_zarr(path)
            with (
                LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster,
                Client(cluster) as client,
            ):
                zX = da.from_zarr(path)
                t0 = time.perf_counter()
                som_c = SOM(**kw).fit(zX)
                dt = time.perf_counter() - t0
                # current RSS (a worker's ru_maxrss starts from its parent's peak at fork)
                wrss = client.run(lambda: __import__("psutil").Process().memory_info().rss / 2**20)
                row(
                    "vocloud SOM, LocalCluster 2x1, Zarr",
                    n,
                    e,
                    dt,
                    som_c,
                    X,
                    f"{zX.numblocks[0]} chunks read from Zarr each epoch; worker RSS after fit "
                    + ", ".join(f"{v:.0f}" for v in wrss.values())
                    + " MB",
                )
                pX = client.persist(zX)
                from distributed import wait

                wait(pX)
                t0 = time.perf_counter()
                som_p = SOM(**kw).fit(pX)
                row(
                    "vocloud SOM, LocalCluster 2x1, persisted",
                    n,
                    e,
                    time.perf_counter() - t0,
                    som_p,
                    X,
                    "chunks held in worker memory",
                )

    # --- subset: ours vs minisom vs somoclu, same data, same epochs
    print(f"\nSubset of {len(sub):,} rows, {e} epochs (quality columns measured on the subset):\n")
    print(
        "| method | rows | fit s | samples/s per epoch | QE | TE | peak RSS MB (process) | note |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    t0 = time.perf_counter()
    ours = SOM(**kw).fit(sub)
    row(
        f"vocloud SOM (PCA init, sigma {max(shape) / 2:g} -> 1 exp.)",
        len(sub),
        e,
        time.perf_counter() - t0,
        ours,
        sub,
    )
    try:
        from minisom import MiniSom
    except ImportError:
        print("| minisom | - | - | - | - | - | - | not installed |")
    else:
        sigma0 = max(shape) / 2
        for name in ("train_batch_offline", "train"):
            ms = MiniSom(
                shape[0],
                shape[1],
                f,
                sigma=sigma0,
                learning_rate=0.5 if name == "train" else 1.0,
                sigma_decay_function="inverse_decay_to_one",
                random_seed=0,
            )
            ms.pca_weights_init(sub)
            t0 = time.perf_counter()
            if name == "train":
                ms.train(sub, e, use_epochs=True, random_order=True)
            else:
                ms.train_batch_offline(sub, e)
            row(
                f"minisom {name} (PCA init, sigma {sigma0:g} -> ~1)",
                len(sub),
                e,
                time.perf_counter() - t0,
                wrap(ms.get_weights(), f),
                sub,
            )
    try:
        import somoclu
    except ImportError:
        print("| somoclu | - | - | - | - | - | - | not installed (GPL-3; benchmark only) |")
    else:
        sm = somoclu.Somoclu(shape[1], shape[0], initialization="pca", compactsupport=False)
        t0 = time.perf_counter()
        sm.train(
            np.ascontiguousarray(sub),
            epochs=e,
            radius0=max(shape) / 2,
            radiusN=1.0,
            radiuscooling="exponential",
            scale0=1.0,
            scaleN=1.0,
        )
        row(
            f"somoclu (OpenMP, PCA init, radius {max(shape) / 2:g} -> 1 exp., scale 1)",
            len(sub),
            e,
            time.perf_counter() - t0,
            wrap(sm.codebook, f),
            sub,
            "GPL-3, benchmark only",
        )


if __name__ == "__main__":
    main()
