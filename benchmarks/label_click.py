"""How fast a label click is answered in the dashboard's Label tab (target: 200 ms).

Run: ``.venv/bin/python benchmarks/label_click.py [--n 2000] [--clicks 20]
[--labels 1000,10000,100000]``.

Makes (once, under ``benchmarks/data/label-click/``) an experiment of ``--n`` IRAF-style spectra
with PCA, SOM and random-forest steps, 4 labels of each class and one ``active-learning``
iteration (batch 64). Then, for each number of labels in the labels file (padded with labels of
ids of another archive), each way of saving a label:

- *append* (:func:`vocloud.ml.labelfile.save_labels`): one row appended to the log under the
  lock, fsync;
- *rewrite*, the baseline (vocloud until 2026-12-06): the whole file read, the rows of the
  labelled ids replaced, written to a temporary file, fsync, renamed, under the same lock;

and for each:

- *server*: the Python callback of a click, in this process (:func:`vocloud.viz.som_document` in
  a bare ``Document``; the button's ``on_click`` handlers called as Bokeh calls them): the label
  saved, the table patched, the next spectrum drawn;
- *browser*: the dashboard (:func:`vocloud.viz.serve`, what ``vocloud dashboard`` runs) in a
  subprocess and Debian's Chromium (Playwright, headless): from the click on the class button
  until the page's table shows the label (polled every animation frame: an upper bound,
  Playwright's own round trips included).

The two ways alternate at each size, so that both see the same load. Then the compaction that
*append* does once the rows appended outgrow the file (:func:`vocloud.ml.labelfile.compact_labels`,
a file of that many labels and as many rows appended again). The spectra of the batch
are read when the batch is shown, not at a click. Prints Markdown. No timed asserts.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import re
import subprocess
import sys
import tempfile
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


def save_labels_rewrite(path: Path, labels: dict[str, str], *, time: str | None = None) -> int:
    """The baseline: vocloud's save_labels until 2026-12-06 (the whole file rewritten)."""
    from vocloud.store import utc_now

    p = Path(path)
    stamp = time or utc_now("milliseconds")
    clean = {str(k).strip(): str(v or "").strip() for k, v in labels.items()}
    with open(p.with_name(p.name + ".lock"), "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        frame = pd.read_csv(p, dtype=str, keep_default_na=False)
        frame = frame[~frame["id"].isin(clean)]
        new = pd.DataFrame({"id": list(clean), "label": list(clean.values()), "time": stamp})
        frame = pd.concat([frame, new[new["label"] != ""]], ignore_index=True)
        fd, tmp = tempfile.mkstemp(prefix=p.name + ".", suffix=".tmp", dir=p.parent)
        try:
            with os.fdopen(fd, "w", newline="") as fh:
                frame.to_csv(fh, index=False)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, p)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    return len(clean)


def use(way: str) -> None:
    """Make the dashboard save labels the ``way`` given (``append``: as vocloud does)."""
    import vocloud.viz.label
    from vocloud.ml.labelfile import save_labels

    vocloud.viz.label.save_labels = save_labels if way == "append" else save_labels_rewrite


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
    from vocloud.steps.runner import run_step
    from vocloud.store import resolve_store

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


def browser_clicks(exp_dir: Path, clicks: int, way: str) -> list[float]:
    from playwright.sync_api import sync_playwright

    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(exp_dir), "--way", way],
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
    ap.add_argument("--labels", default="1000,10000,100000", help="labels in the file")
    ap.add_argument("--serve", help=argparse.SUPPRESS)  # the dashboard subprocess
    ap.add_argument(
        "--way", choices=("append", "rewrite"), default="append", help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    if args.serve:
        from vocloud.viz import serve

        use(args.way)
        serve(args.serve, port=0)
        return
    from vocloud.ml.labelfile import compact_labels, experiment_labels

    exp_dir = build(args.n)
    first_iteration(exp_dir)
    print(
        f"{args.n:,} spectra, batch 64, {args.clicks} clicks each; load {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| labels | save | server callback median / max ms | browser click -> label shown "
        "median / max ms |"
    )
    print("|---:|---|---:|---:|")
    truth = pd.read_csv(DATA / "spectra" / "truth.csv")["class"]
    first = len(truth.groupby(truth).head(4))  # the labels reset_labels starts from
    for n in (int(v) for v in args.labels.split(",")):
        srv, web = {}, {}
        for way in ("rewrite", "append"):
            use(way)
            reset_labels(exp_dir, n - first)
            srv[way] = np.array(server_clicks(exp_dir, args.clicks)) * 1e3
        for way in ("rewrite", "append"):
            reset_labels(exp_dir, n - first)
            web[way] = np.array(browser_clicks(exp_dir, args.clicks, way)) * 1e3
        for way in ("rewrite", "append"):
            name = "rewrite (baseline)" if way == "rewrite" else "**append**"
            s, w = srv[way], web[way]
            print(
                f"| {n:,} | {name} | {np.median(s):.0f} / {s.max():.0f} | "
                f"{np.median(w):.0f} / {w.max():.0f} |"
            )
    print("\n| labels | compaction (log of 2 rows per label -> 1) median / max ms |\n|---:|---:|")
    for n in (int(v) for v in args.labels.split(",")):
        out = []
        for _ in range(5):
            reset_labels(exp_dir, n - first)
            path = experiment_labels(exp_dir)
            with open(path, "a") as fh:  # every label given again: as long as the labels
                fh.write(path.read_text().split("\n", 1)[1])
            t0 = time.perf_counter()
            assert compact_labels(path) == n
            out.append((time.perf_counter() - t0) * 1e3)
        print(f"| {n:,} | {np.median(out):.0f} / {max(out):.0f} |")
    use("append")
    reset_labels(exp_dir, 0)


if __name__ == "__main__":
    main()
