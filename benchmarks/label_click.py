"""How fast a label click is answered in the dashboard's Label tab (target: 200 ms).

Run: ``.venv/bin/python benchmarks/label_click.py [--n 2000] [--clicks 20] [--file-rows 0,10000,100000]``.

Makes (once, under ``benchmarks/data/label-click/``) an experiment of ``--n`` IRAF-style spectra
with PCA, SOM and random-forest steps, 4 labels of each class and one ``active-learning``
iteration (batch 64). Then, for each size of the labels file (its rows padded with labels of ids of
another archive: the file is read and rewritten at every click, the one thing that grows):

- *server*: the Python callback of a click, in this process (:func:`vocloud.viz.som_document` in
  a bare ``Document``; the button's ``on_click`` handlers called as Bokeh calls them): the label
  saved (lock, read, write, fsync, rename), the table patched, the next spectrum drawn;
- *browser*: ``vocloud dashboard`` in a subprocess and Debian's Chromium (Playwright, headless):
  from the click on the class button until the page's table shows the label (polled every
  animation frame: an upper bound, Playwright's own round trips included).

The spectra of the batch are read when the batch is shown, not at a click. Prints Markdown. No
timed asserts.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).parent / "data" / "label-click"


def build(n: int) -> Path:
    from vocloud import Experiment
    from vocloud.datasets import make_archive

    spectra = DATA / "spectra"
    if not (spectra / "truth.csv").exists():
        make_archive(spectra, n, layouts="iraf-linear", seed=8, n_jobs=2, label_fraction=0.3)
    exp = Experiment(
        {"directory": str(spectra), "pattern": "**/*.fits"},
        name="label",
        store=DATA / "experiments",
        steps=[
            {"method": "pca", "params": {"n_components": 4}},
            {"method": "som", "params": {"shape": [8, 8], "epochs": 5}},
            {"method": "random-forest", "params": {"labels": str(spectra / "labels.csv")}},
        ],
    )
    exp.run(
        cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": False},
        progress=False,
        verbose=False,
    )
    return exp.directory


def reset_labels(exp_dir: Path, pad: int) -> None:
    """4 labels of each class (as the first iteration had) plus ``pad`` rows of other ids."""
    from vocloud.ml.labelfile import experiment_labels

    truth = pd.read_csv(DATA / "spectra" / "truth.csv").set_index("id")["class"]
    first = truth.groupby(truth).head(4)
    rows = pd.DataFrame({"id": first.index, "label": first.values, "time": "2026-12-06T00:00:00"})
    other = pd.DataFrame(
        {"id": [f"other-archive/{i:07d}" for i in range(pad)], "label": "shell", "time": ""}
    )
    pd.concat([rows, other]).to_csv(experiment_labels(exp_dir), index=False)


def first_iteration(exp_dir: Path) -> None:
    from vocloud.run.experiment import resolve_store
    from vocloud.steps.runner import run_step

    reset_labels(exp_dir, 0)
    run_step(exp_dir, resolve_store(exp_dir), "active-learning", {"batch_size": 64})


def server_clicks(exp_dir: Path, clicks: int) -> list[float]:
    from bokeh.document import Document
    from bokeh.events import ButtonClick
    from bokeh.models import Button

    from vocloud.viz import som_document

    doc = Document()
    som_document(doc, exp_dir)
    buttons = [
        b
        for b in doc.select({"type": Button})
        if (b.name or "").startswith("label_class_") and b.name != "label_class_unsure"
    ]
    button = sorted(buttons, key=lambda b: b.label)[0]  # "1: <class>"
    out = []
    for _ in range(clicks):
        t0 = time.perf_counter()
        button._trigger_event(ButtonClick(button))  # what a click from the page does
        out.append(time.perf_counter() - t0)
    return out


def browser_clicks(exp_dir: Path, clicks: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    proc = subprocess.Popen(
        [sys.executable, "-m", "vocloud.cli", "dashboard", str(exp_dir), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    model = "(name) => Bokeh.documents[0].get_model_by_name(name)"
    try:
        url = re.search(r"(http://\S+/som)", proc.stdout.readline()).group(1)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=os.environ.get("VOCLOUD_CHROMIUM", "/usr/bin/chromium"),
                headless=True,
            )
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            page.wait_for_function(
                f"() => window.Bokeh && Bokeh.documents.length && ({model})('label_batch')",
                timeout=60000,
            )
            page.get_by_text("Label", exact=True).click()
            page.wait_for_timeout(500)
            button = page.get_by_role("button", name=re.compile(r"^1: "))
            out = []
            for i in range(clicks):
                t0 = time.perf_counter()
                button.click()
                page.wait_for_function(
                    f"() => ({model})('label_batch').data.label[{i}] !== ''",
                    polling="raf",
                    timeout=10000,
                )
                out.append(time.perf_counter() - t0)
                page.wait_for_timeout(150)  # a person does not click faster
            browser.close()
        return out
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--clicks", type=int, default=20)
    ap.add_argument("--file-rows", default="0,10000,100000")
    args = ap.parse_args()
    exp_dir = build(args.n)
    first_iteration(exp_dir)
    print(
        f"{args.n:,} spectra, batch 64, {args.clicks} clicks each; load {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| labels file rows | server callback median / max ms | browser click -> label shown "
        "median / max ms |"
    )
    print("|---:|---:|---:|")
    for pad in (int(v) for v in args.file_rows.split(",")):
        reset_labels(exp_dir, pad)
        srv = np.array(server_clicks(exp_dir, args.clicks)) * 1e3
        reset_labels(exp_dir, pad)
        web = np.array(browser_clicks(exp_dir, args.clicks)) * 1e3
        print(
            f"| {pad + 20:,} | {np.median(srv):.0f} / {srv.max():.0f} | "
            f"{np.median(web):.0f} / {web.max():.0f} |"
        )
    reset_labels(exp_dir, 0)


if __name__ == "__main__":
    main()
