"""Poison in an archive run: a gzip bomb and a spectrum whose reading kills its worker, each in a
chunk of good spectra, on a real LocalCluster with a small worker memory limit; `vocloud run` is
a real process connected to it."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib

import numpy as np
import yaml

from vocloud.datasets import make_archive
from vocloud.datasets.fitswrite import format_card, header_bytes
from vocloud.demo import DEMO_EXPERIMENT
from vocloud.run.experiment import Experiment
from vocloud.store import open_store

HALPHA = yaml.safe_load(DEMO_EXPERIMENT)["preprocess"]
#: Pixels of the spectrum that kills its worker: a 48 MB file (under the read limit) whose
#: reading and preprocessing take several GB (4,000,000 pixels: 1.7 GB, measured), far past the
#: workers' 700 MB for long enough that the nanny's memory monitor (every 100 ms) sees it.
KILLER_PIXELS = 12_000_000


def _iraf_header(n: int) -> bytes:
    cards = [
        format_card("SIMPLE", True),
        format_card("BITPIX", -32),
        format_card("NAXIS", 1),
        format_card("NAXIS1", n),
        format_card("CRVAL1", 6000.0),
        format_card("CDELT1", 1500.0 / n),
        format_card("CRPIX1", 1.0),
        format_card("CTYPE1", "WAVE"),
    ]
    return header_bytes(cards)


def write_killer(path) -> None:
    """A real uncompressed FITS spectrum of KILLER_PIXELS float32 pixels, on a sparse file."""
    head = _iraf_header(KILLER_PIXELS)
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(len(head) + -(-KILLER_PIXELS * 4 // 2880) * 2880)


def write_bomb(path, inflated: int) -> None:
    """A .fits.gz of a FITS header and zeros that inflates to ``inflated`` bytes (~1,000:1)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = _iraf_header((inflated - 2880) // 4)
    parts = [z.compress(head)]
    block = bytes(1 << 20)
    for _ in range((inflated - len(head)) // len(block)):
        parts.append(z.compress(block))
    parts.append(z.flush())
    path.write_bytes(b"".join(parts))


def test_a_gzip_bomb_and_a_worker_killer_fail_alone(tmp_path, small_workers):
    info = make_archive(tmp_path / "spectra", 30, layouts="iraf-linear", seed=11, n_jobs=1)
    poison = tmp_path / "spectra" / "poison"
    poison.mkdir()
    write_bomb(poison / "bomb.fits.gz", 100_000_000)
    write_killer(poison / "killer.fits")
    assert (poison / "bomb.fits.gz").stat().st_size < 200_000
    assert os.stat(poison / "killer.fits").st_blocks * 512 < 100_000  # sparse
    spec = {
        "name": "poison",
        "store": "./experiments",
        "source": {"directory": "./spectra", "pattern": ["**/*.fits", "**/*.fits.gz"]},
        "preprocess": HALPHA,
        "run": {"block_size": 8, "max_file_size": "64MB"},
    }
    f = tmp_path / "poison.yaml"
    f.write_text(yaml.safe_dump(spec))
    address = small_workers.scheduler.address
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "vocloud.cli",
            "run",
            str(f),
            "--no-progress",
            "--scheduler",
            address,
        ],
        capture_output=True,
        text=True,
        timeout=400,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "Traceback" not in out
    assert "killed its workers" in out and "killer.fits: its worker died reading it" in out
    ds = open_store(Experiment.from_file(f).store_path)
    errors = dict(zip(ds.path.values.tolist(), ds.error.values.tolist()))
    status = dict(zip(ds.path.values.tolist(), ds.status.values.tolist()))
    killer = next(p for p in errors if p.endswith("killer.fits"))
    bomb = next(p for p in errors if p.endswith("bomb.fits.gz"))
    assert status[killer] == 2 and errors[killer].startswith("its worker died reading it (")
    assert status[bomb] == 2
    assert errors[bomb] == "gzip expands past 64 MB (the per-file read limit, run: max_file_size)"
    # every good spectrum is stored, equal to a run of the good spectra alone
    clean = Experiment(
        {"directory": str(tmp_path / "spectra"), "pattern": "iraf-linear/**/*.fits"},
        HALPHA,
        name="clean",
        store=tmp_path / "experiments",
        block_size=8,
    ).run(small_workers, progress=False, verbose=False)
    assert clean.sizes["spectrum"] == info.n_spectra
    row = {p: k for k, p in enumerate(ds.path.values.tolist())}
    rows = [row[p] for p in clean.path.values.tolist()]
    np.testing.assert_array_equal(ds.status.values[rows], clean.status.values)
    # rows of chunks computed whole are bit-equal; the split chunk's good rows were computed in
    # smaller blocks, whose vectorised fits sum in another order: a few float32 ulps apart
    split = np.asarray(rows) // 8 == row[killer] // 8
    got, want = ds.features.values[rows], clean.features.values
    np.testing.assert_array_equal(got[~split], want[~split])
    np.testing.assert_allclose(got[split], want[split], rtol=2e-6, atol=1e-6)
    assert int((clean.status == 1).sum()) >= 0.9 * info.n_spectra
    # `vocloud info` shows each kind of failure with one real reason
    res = subprocess.run(
        [sys.executable, "-m", "vocloud.cli", "info", str(tmp_path / "experiments" / "poison")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "gzip expands past N MB, e.g. gzip expands past 64 MB (the per-file" in res.stdout
    assert "its worker died reading it, e.g. its worker died reading it (" in res.stdout


def test_worker_killer_on_vocloud_own_cluster(tmp_path):
    """The same search on the LocalCluster vocloud starts itself (its own scheduler and worker
    settings, not the fixture's): the run completes and records the killer."""
    make_archive(tmp_path / "spectra", 23, layouts="iraf-linear", seed=5, n_jobs=1)
    (tmp_path / "spectra" / "poison").mkdir()
    write_killer(tmp_path / "spectra" / "poison" / "killer.fits")
    exp = Experiment(
        {"directory": str(tmp_path / "spectra"), "pattern": "**/*.fits"},
        HALPHA,
        name="own",
        store=tmp_path / "experiments",
        block_size=8,
        cluster_kwargs={"n_workers": 2, "memory_limit": "700MB", "dashboard_address": None},
    )
    ds = exp.run(progress=False, verbose=False)
    paths = ds.path.values.tolist()
    k = next(i for i, p in enumerate(paths) if p.endswith("killer.fits"))
    assert ds.status.values[k] == 2
    assert str(ds.error.values[k]).startswith("its worker died reading it (")
    # the killer shares its chunk with good spectra, all stored
    same_chunk = [i for i in range(len(paths)) if i // 8 == k // 8 and i != k]
    assert same_chunk and all(ds.status.values[i] == 1 for i in same_chunk)
