"""Random forest step over a big feature store: spectra/s on a 2-worker LocalCluster.

Run: ``.venv/bin/python benchmarks/forest.py [--rows 1000000] [--baseline-src DIR]``.

Store. Builds once (reused when its shape matches) an experiment feature store under
``benchmarks/data/forest-<rows>/`` (gitignored) exactly as :class:`vocloud.run.experiment.Experiment`
writes one: :class:`vocloud.store.FeatureStore`, 1,000-spectrum chunks (the default
``block_size``), ``rows x 1161`` float32 features compressed with ``FEATURE_CODEC``, ids, status
and error per spectrum. The features are those of ``--base`` synthetic LAMOST DR7 spectra
preprocessed by :func:`vocloud.preprocess.preprocess_block`, each stored row one of them picked at
random plus Gaussian noise (sigma 0.02); ~1 % of the rows are failed spectra (NaN, status 2).
``truth.npy`` keeps the class of each row, ``labels.csv`` the ``--labelled`` spectra (id, label)
picked at random among the ok rows, as a user's file of spectra classified by eye.

In memory. Plain scikit-learn ``predict_proba`` of ``--subset`` stored rows, C-ordered (as numpy
and Zarr hand them over) and Fortran-ordered, 1 and 2 threads.

Step. In a fresh process per run (``--runs`` times, alternating with the baseline when
``--baseline-src`` names the ``src`` folder of a checkout of the previous implementation, e.g.
``git archive 37f222d src | tar -x -C /tmp/base``, and with the ``--variants`` of this checkout
that each undo one change), on vocloud's own LocalCluster (:func:`vocloud.run.cluster.get_client`,
2 workers x 1 thread here, as ``vocloud`` runs steps): the ``random-forest`` method's ``run``
(labels by id, training and cross validation: "fit") and then, timed, the write of its outputs to a step store
(reading every stored feature, predicting, writing ``predicted_class`` and ``probability`` of
every spectrum: what :func:`vocloud.steps.runner.run_step` does after ``run``). Rates count every
stored row. "hot": the store was read just before (the labelled rows are gathered from every
chunk); "cold": its files were evicted from the page cache (``posix_fadvise(DONTNEED)``, only
this store's files) just before the timer. Held-out accuracy: the predicted class of every ok
stored row that is neither labelled nor an outlier (a class absent from the labels) against its
true class. Prints Markdown. No timed asserts: timings on a shared 2-core box are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

DATA = Path(__file__).parent / "data"
CHUNK = 1000  # rows per store chunk: Experiment's default block_size
NOISE = 0.02
STORE_NAME = "features-forestbench.zarr"


def base_features(n: int, seed: int = 11) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Preprocessed features, class names and grid of ``n`` synthetic spectra (ok rows only)."""
    import astropy.units as u

    from vocloud.datasets import synthesize
    from vocloud.io import Spectrum
    from vocloud.preprocess import PreprocessParams, preprocess_block

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


def store_files(store: Path) -> list[Path]:
    return [p for p in (store / "features" / "c").rglob("*") if p.is_file()]


def build(folder: Path, rows: int, n_base: int, n_labelled: int) -> str:
    """Make (or reuse) the feature store, truth.npy and labels.csv; returns a description."""
    from vocloud.store import FeatureStore

    store = folder / STORE_NAME
    if (store / "zarr.json").exists() and (folder / "labels.csv").exists():
        meta = json.loads((store / "features" / "zarr.json").read_text())
        if meta["shape"][0] == rows:
            return "reused"
    t0 = time.perf_counter()
    base, cls, grid = base_features(n_base)
    folder.mkdir(parents=True, exist_ok=True)
    ids = np.array([f"spec-{i:07d}" for i in range(rows)])
    partial = folder / (STORE_NAME + ".partial")
    fs = FeatureStore.create(
        partial, ids=ids, paths=ids, grid=grid, chunk_size=CHUNK, attrs={"cache_key": "forestbench"}
    )
    rng = np.random.default_rng(0)
    truth = np.empty(rows, dtype=cls.dtype)
    from vocloud.store import ChunkData

    for i in range(fs.n_chunks):
        start, stop = fs.chunk_bounds(i)
        pick = rng.integers(0, len(base), stop - start)
        block = base[pick]
        block += rng.standard_normal(block.shape, dtype=np.float32) * np.float32(NOISE)
        failed = rng.random(stop - start) < 0.01
        block[failed] = np.nan
        truth[start:stop] = np.where(failed, "", cls[pick])
        status = np.where(failed, 2, 1).astype("i1")
        error = np.where(failed, "synthetic failure", "")
        FeatureStore.write_chunk(
            partial, i, start, ChunkData(block, {"status": status, "error": error})
        )
    fs.finish(store, {})
    np.save(folder / "truth.npy", truth)
    usable = np.flatnonzero((truth != "") & (truth != "outlier"))
    lab = np.sort(np.random.default_rng(1).choice(usable, n_labelled, replace=False))
    import pandas as pd

    pd.DataFrame({"id": ids[lab], "label": truth[lab]}).to_csv(folder / "labels.csv", index=False)
    return f"written in {time.perf_counter() - t0:.0f} s"


def evict(store: Path) -> None:
    """Drop this store's feature chunks from the page cache (only these files)."""
    for p in store_files(store):
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def cached_fraction(store: Path) -> float | None:
    """Fraction of the feature chunks' bytes in the page cache (util-linux ``fincore``)."""
    files = [str(p) for p in store_files(store)]
    try:
        out = subprocess.run(
            ["fincore", "--bytes", "--noheadings", "--output", "RES,SIZE", *files],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    res = size = 0
    for line in out.split("\n"):
        if line.strip():
            r, s = line.split()
            res, size = res + int(r), size + int(s)
    return res / size if size else None


def cpu_times() -> tuple[float, float]:
    """(CPU seconds used by the whole machine, by this process and its descendants)."""
    import psutil

    with open("/proc/stat") as fh:
        fields = [float(v) for v in fh.readline().split()[1:]]
    busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # - idle, iowait
    me = psutil.Process()
    ours = 0.0
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
            ours += t.user + t.system
        except psutil.Error:
            pass
    return busy, ours


# -- one step run (in a fresh process) ------------------------------------------------------
#: Variants of this checkout that undo one change each, to show what each is worth.
VARIANTS = {
    "": "this checkout",
    "c-order": "this checkout, C-ordered rows to scikit-learn",
    "map-blocks": "this checkout, da.map_blocks with the model as one graph key (no dask-ml)",
    "rechunk": "this checkout, 1,000-row reads merged by rechunk",
}


def apply_variant(variant: str) -> None:
    """Undo one change of this checkout (see VARIANTS) by patching the module in this process."""
    import vocloud.steps.methods as methods
    from vocloud.ml import forest as forest_mod

    if variant == "c-order":

        def c_order(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            out = np.array(X, dtype=np.float32, order="C")
            bad = np.isnan(out).any(axis=1)
            out[bad] = 0.0
            return out, bad

        forest_mod._fortran = c_order
    elif variant == "map-blocks":
        forest_mod.USE_DASK_ML = False
    elif variant == "rechunk":
        methods._rows_per_task = lambda inputs, context, rows: methods._dask(inputs)
    elif variant:
        raise ValueError(f"unknown variant {variant!r}")


def step_child(
    folder: Path, mode: str, params: dict, task_rows: int | None, variant: str = ""
) -> dict:
    """Run the random-forest method on the store, then time writing its outputs."""
    import shutil

    import xarray as xr

    import vocloud.steps.methods  # registers the methods
    from vocloud.run.cluster import get_client
    from vocloud.steps.registry import get_method
    from vocloud.steps.runner import StepContext
    from vocloud.store import open_store

    store = folder / STORE_NAME
    out_path = folder / f"step-{os.getpid()}.zarr"
    if task_rows and hasattr(vocloud.steps.methods, "FOREST_ROWS"):
        vocloud.steps.methods.FOREST_ROWS = task_rows
    apply_variant(variant)
    # vocloud's own LocalCluster (as `vocloud run` starts it): one 1-thread worker per core
    with get_client(quiet=True, dashboard_address=":0") as client:
        client.run(lambda: __import__("sklearn.ensemble"))  # imports, as any earlier task would
        client.run(apply_variant, variant)  # the tasks' own code runs on the workers
        ds = open_store(store)
        ctx = StepContext(
            experiment_dir=folder,
            features_store=store,
            base_dir=folder,
            ids=np.asarray(ds.id.values, dtype=object),
            ok=np.asarray(ds.status.values == 1),
        )
        method = get_method("random-forest")
        full = method.params({"labels": "labels.csv", **params})
        t0 = time.perf_counter()
        out = method().run(ds.features, ctx, **full)
        t_fit = time.perf_counter() - t0
        if mode == "cold":
            evict(store)
        cached = cached_fraction(store)
        load = os.getloadavg()[0]
        cpu0 = cpu_times()
        t0 = time.perf_counter()
        out.dataset.reset_coords(drop=True).to_zarr(str(out_path), mode="w", consolidated=False)
        t_pred = time.perf_counter() - t0
        cpu1 = cpu_times()
    res = xr.open_zarr(str(out_path), consolidated=False)
    pred = np.asarray(res["predicted_class"].values).astype(str)
    given = np.asarray(res["label"].values).astype(str)
    shutil.rmtree(out_path)
    truth = np.load(folder / "truth.npy")
    held = (truth != "") & (truth != "outlier") & (given == "")
    return {
        "mode": mode,
        "rows": int(truth.size),
        "fit_s": t_fit,
        "predict_write_s": t_pred,
        "cached_before": cached,
        "load1": load,
        "ours_cores": (cpu1[1] - cpu0[1]) / t_pred,
        "others_cores": (cpu1[0] - cpu0[0] - (cpu1[1] - cpu0[1])) / t_pred,
        "held_out": int(held.sum()),
        "held_out_acc": float((pred[held] == truth[held]).mean()),
        "failed_rows_empty": bool((pred[truth == ""] == "").all()),
        "cv_accuracy": out.metrics.get("cv_accuracy"),
        "oob_score": out.metrics.get("oob_score"),
    }


def run_child(
    folder: Path, mode: str, params: dict, src: str | None, task_rows: int | None, variant: str
) -> dict:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, __file__, "--child", mode, "--folder", str(folder)]
    cmd += ["--params", json.dumps(params)]
    if task_rows:
        cmd += ["--task-rows", str(task_rows)]
    if variant:
        cmd += ["--variant", variant]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode:
        sys.stderr.write(out.stderr[-4000:])
        raise RuntimeError(f"child {mode} ({src or 'this checkout'}) failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- in-memory scikit-learn --------------------------------------------------------------------
def in_memory(folder: Path, n_subset: int, params: dict) -> None:
    import pandas as pd
    import zarr
    from sklearn.ensemble import RandomForestClassifier

    z = zarr.open_array(str(folder / STORE_NAME / "features"), mode="r")
    ids = zarr.open_array(str(folder / STORE_NAME / "id"), mode="r")[:].tolist()
    lab = pd.read_csv(folder / "labels.csv")
    rows = pd.Index(ids).get_indexer(lab["id"])
    X_lab = z.get_orthogonal_selection((rows, slice(None)))
    rf = RandomForestClassifier(
        n_estimators=int(params.get("n_estimators", 300)),
        min_samples_leaf=int(params.get("min_samples_leaf", 1)),
        n_jobs=2,
        random_state=0,
    ).fit(X_lab, lab["label"].to_numpy())
    X = z[:n_subset]
    X = X[~np.isnan(X).any(axis=1)]
    XF = np.asfortranarray(X)
    depth = np.mean([e.get_depth() for e in rf.estimators_])
    nodes = np.mean([e.tree_.node_count for e in rf.estimators_])
    print(
        f"## scikit-learn predict_proba in memory ({len(X):,} stored rows, "
        f"{rf.n_estimators} trees, mean depth {depth:.1f}, {nodes:.0f} nodes per tree)\n"
    )
    print("| input order | rows per call | 1 thread /s | 2 threads /s | load |")
    print("|---|---|---|---|---|")
    for name, arr in (("C (as stored)", X), ("Fortran", XF)):
        for step in (10_000, len(X)):
            rates = []
            for n_jobs in (1, 2):
                rf.set_params(n_jobs=n_jobs)
                best = np.inf
                for _ in range(2):
                    t0 = time.perf_counter()
                    for i in range(0, len(arr), step):
                        rf.predict_proba(arr[i : i + step])
                    best = min(best, time.perf_counter() - t0)
                rates.append(f"{len(arr) / best:,.0f}")
            print(f"| {name} | {step:,} | {rates[0]} | {rates[1]} | {os.getloadavg()[0]:.2f} |")
            sys.stdout.flush()
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--labelled", type=int, default=5000)
    ap.add_argument("--base", type=int, default=4000, help="synthetic spectra tiled into the store")
    ap.add_argument("--subset", type=int, default=100_000, help="rows of the in-memory test")
    ap.add_argument("--runs", type=int, default=1, help="step runs per mode and implementation")
    ap.add_argument("--modes", default="hot,cold")
    ap.add_argument("--baseline-src", default=None, help="src folder of the previous version")
    ap.add_argument("--params", default="{}", help="random-forest step parameters (JSON)")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--task-rows", type=int, default=None, help="FOREST_ROWS (this checkout)")
    ap.add_argument(
        "--variants", default="", help=f"also run these variants: {', '.join(VARIANTS)[2:]}"
    )
    ap.add_argument("--variant", default="", help=argparse.SUPPRESS)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    params = json.loads(args.params)
    if args.child:
        print(
            json.dumps(
                step_child(Path(args.folder), args.child, params, args.task_rows, args.variant)
            )
        )
        return

    folder = DATA / f"forest-{args.rows}"
    how = build(folder, args.rows, args.base, args.labelled)
    store = folder / STORE_NAME
    size_gb = sum(p.stat().st_size for p in store_files(store)) / 1e9
    print(
        f"# Random forest step benchmark\n\n{time.strftime('%Y-%m-%d %H:%M')}; store {store}: "
        f"{args.rows:,} x 1161 float32, {CHUNK:,}-row chunks, {size_gb:.2f} GB of features "
        f"on disk ({how}); {args.labelled:,} labelled; step parameters {params or 'defaults'}\n"
    )
    sys.stdout.flush()
    if not args.skip_memory:
        in_memory(folder, args.subset, params)
    impls = [("this checkout", None, "")]
    impls += [(VARIANTS[v], None, v) for v in args.variants.split(",") if v]
    if args.baseline_src:
        impls.insert(0, ("baseline", args.baseline_src, ""))
    print("## The random-forest step, LocalCluster 2 workers x 1 thread\n")
    print(
        "| implementation | page cache | in cache before | fit + CV s | read + predict + write s "
        "| spectra/s | held-out acc | CV acc | load1 before | cores used: step / others |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for _ in range(args.runs):
        for mode in [m for m in args.modes.split(",") if m]:
            for name, src, variant in impls:
                r = run_child(folder, mode, params, src, args.task_rows, variant)
                cached = "-" if r["cached_before"] is None else f"{r['cached_before']:.0%}"
                print(
                    f"| {name} | {mode} | {cached} | {r['fit_s']:.1f} | {r['predict_write_s']:.1f} "
                    f"| {r['rows'] / r['predict_write_s']:,.0f} | {r['held_out_acc']:.4f} "
                    f"| {r['cv_accuracy']:.4f} | {r['load1']:.2f} "
                    f"| {r['ours_cores']:.2f} / {r['others_cores']:.2f} |"
                )
                sys.stdout.flush()
    print(
        f"\nspectra/s counts every stored row (failed ones too); held-out: the {r['held_out']:,} "
        "ok rows neither labelled nor outliers; cores used: CPU seconds per second of the timed write, by the "
        "step's processes (client, scheduler, workers) and by everything else on the machine."
    )


if __name__ == "__main__":
    main()
