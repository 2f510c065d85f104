"""The ``vocloud`` command: ``run`` an experiment file, ``info`` about an experiment, the analysis
``methods``, ``export`` its results, serve its ``dashboard``, ``learn`` with an oracle, or run
the ``demo``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

#: Values of ``vocloud dashboard --color-by`` (the columns of vocloud.viz.COLOR_BY).
COLOR_KEYS = ("hits", "umatrix", "outlier", "majority", "purity")

# Each command imports what it runs inside its function: ``vocloud --help`` and argument errors
# answer in ~0.2 s instead of the ~8 s of importing dask, distributed, xarray, zarr and bokeh.


def _cmd_run(args: argparse.Namespace) -> int:
    from vocloud.run.experiment import Experiment, summarize
    from vocloud.store import StoreLocked

    exp = Experiment.from_file(args.file, scheduler=args.scheduler)
    if args.workers:
        # --workers sizes the LocalCluster vocloud starts: an error, not ignored, when the run
        # uses a cluster of its own
        if exp.scheduler:
            raise ValueError(
                f"--workers sizes the LocalCluster vocloud starts; the run connects to the "
                f"scheduler {exp.scheduler}, whose cluster has its own workers"
            )
        if exp.batch is not None:
            raise ValueError(
                f"--workers sizes the LocalCluster vocloud starts; {args.file} runs on batch jobs "
                "(run.batch): set their jobs and cores there"
            )
        exp.cluster_kwargs["n_workers"] = args.workers
    try:
        exp.run(progress=not args.no_progress, wait=not args.no_wait)
    except StoreLocked as exc:  # --no-wait: another run holds the store's lock
        print(f"vocloud: error: {exc}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(summarize(exp.directory), indent=2, default=str))
    return 0


def _format_info(info: dict) -> str:
    lines = [
        f"store        {info['store']}",
        f"spectra      {info['n_spectra']}  (ok {info['n_ok']}, failed {info['n_failed']}"
        + (f", pending {info['n_pending']})" if info.get("n_pending") else ")"),
    ]
    if info.get("wavelength_range"):
        lo, hi = info["wavelength_range"]
        medium = f" ({info['medium']})" if info.get("medium") else ""
        lines.append(f"grid         {info['n_wavelengths']} points, {lo:g}-{hi:g} Angstrom{medium}")
    if info.get("weights"):
        lines.append("weights      the inverse variance of every feature value (weight)")
    examples = info.get("failure_examples", {})
    for category, count in info.get("failures", {}).items():
        # the category counts; one real reason of it shows what it is (numbers included)
        lines.append(
            f"  failed     {count:6d}  {category}, e.g. {examples.get(category, category)}"
        )
    if info.get("n_transient"):
        lines.append(
            f"  retryable  {info['n_transient']:6d}  downloads failed for a transient reason "
            "(a rerun retries them)"
        )
    if info.get("steps"):
        from vocloud.steps.registry import brief_metrics

        for step in info["steps"]:
            lines.append(
                f"step         {step['method']} on {step['input']}: {brief_metrics(step['metrics'])}"
            )
    lines.append(f"vocloud      {info.get('vocloud_version')}  finished {info.get('finished')}")
    return "\n".join(lines)


def _cmd_info(args: argparse.Namespace) -> int:
    from vocloud.run.experiment import summarize

    info = summarize(args.path)
    print(json.dumps(info, indent=2, default=str) if args.json else _format_info(info))
    return 0


def _cmd_methods(args: argparse.Namespace) -> int:
    from vocloud.steps import list_methods

    methods = list_methods()
    if args.json:
        print(json.dumps(methods, indent=2, default=str))
        return 0
    for m in methods:
        print(f"{m['method']}: {m['description']}")
        for k, v in m["params"].items():
            print(f"    {k} = {v!r}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from vocloud.interop.export import export

    out = export(args.path, args.output, format=args.format)
    print(f"vocloud: wrote {out}")
    return 0


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from vocloud.viz import serve

    serve(
        args.path,
        port=args.port,
        address=args.address,
        show=args.show,
        step=args.step,
        color_by=args.color_by,
        scheduler=args.scheduler,
    )
    return 0


def _cmd_learn(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vocloud.learn import OracleRun, learn

    run = OracleRun(
        oracle=Path(args.oracle),
        label_column=args.label_column,
        id_column=args.id_column,
        start=args.start,
        batch=args.batch,
        iterations=args.iterations,
        query=args.query,
        seed=args.seed,
        model=args.model,
    )
    curve = learn(args.experiment, run, args.output)
    print(curve[["iteration", "n_labels", "accuracy", "f1_macro"]].to_string(index=False))
    if args.output:
        print(f"vocloud: wrote {args.output} and {Path(args.output).with_suffix('.png')}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from vocloud.demo import run_demo

    run_demo(args.folder, n_spectra=args.n, scheduler=args.scheduler)
    return 0


#: vocloud.ml.active.QUERY_STRATEGIES, without importing scikit-learn for ``vocloud --help``
#: (tests/unit/test_active.py checks they agree).
QUERIES = ("uncertainty", "margin", "entropy", "diverse", "outlier", "random")


def _learn_parser(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser(
        "learn", help="active learning with an oracle answering each batch: a learning curve"
    )
    a.add_argument("experiment", help="experiment file (run), experiment folder or store")
    a.add_argument("--oracle", required=True, help="CSV or VOTable of known labels")
    a.add_argument("--label-column", required=True, help="the oracle's label column")
    a.add_argument("--id-column", default="id", help="the oracle's id column (default id)")
    a.add_argument("--start", type=int, default=20, help="initial labels (default 20)")
    a.add_argument("--batch", type=int, default=64, help="spectra asked per iteration (64)")
    a.add_argument("--iterations", type=int, default=10, help="iterations (default 10)")
    a.add_argument("--query", choices=QUERIES, default="uncertainty")
    a.add_argument("--model", default="random-forest", help="random-forest, gradient-boosting, mlp")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--output", help="learning curve CSV (a PNG of it is written beside)")
    a.set_defaults(func=_cmd_learn)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``vocloud`` command."""
    p = argparse.ArgumentParser(prog="vocloud", description=__doc__.replace("``", ""))
    sub = p.add_subparsers(dest="command", required=True, title="commands", metavar="COMMAND")
    r = sub.add_parser("run", help="run an experiment file (YAML or JSON)")
    r.add_argument("file")
    r.add_argument("--scheduler", help="address of an existing Dask scheduler (tcp://host:port)")
    r.add_argument(
        "--workers",
        type=int,
        help="workers of the LocalCluster (default: one per core); an error with --scheduler "
        "or run.batch, whose clusters have their own",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--json", action="store_true", help="print the summary as JSON at the end")
    r.add_argument(
        "--no-wait",
        action="store_true",
        help="fail at once when another run of the experiment holds its store's lock",
    )
    r.set_defaults(func=_cmd_run)
    i = sub.add_parser("info", help="summarise an experiment folder or feature store")
    i.add_argument("path")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=_cmd_info)
    m = sub.add_parser("methods", help="list the analysis methods with their parameters")
    m.add_argument("--json", action="store_true", help="print JSON")
    m.set_defaults(func=_cmd_methods)
    e = sub.add_parser("export", help="one row per spectrum with every step's outputs")
    e.add_argument("path", help="experiment folder")
    e.add_argument("--format", choices=["csv", "votable"], default="csv")
    e.add_argument("-o", "--output", help="file to write (default <experiment>/export.csv|vot)")
    e.set_defaults(func=_cmd_export)
    b = sub.add_parser(
        "dashboard", help="serve the SOM dashboard of an experiment (Bokeh) in the browser"
    )
    b.add_argument("path", help="experiment folder (with a SOM step run)")
    b.add_argument("--port", type=int, default=5006, help="port (default 5006; 0: a free one)")
    b.add_argument("--address", default="127.0.0.1", help="interface (default loopback only)")
    b.add_argument("--step", help="the SOM step (store name or key; default the latest)")
    b.add_argument(
        "--color-by",
        default="hits",
        choices=list(COLOR_KEYS),
        help="the first colouring of the map (majority and purity need a random-forest step)",
    )
    b.add_argument(
        "--scheduler",
        help="Dask scheduler (tcp://host:port) that runs the Label tab's next iteration",
    )
    b.add_argument("--show", action="store_true", help="open it in the web browser")
    b.set_defaults(func=_cmd_dashboard)
    _learn_parser(sub)
    d = sub.add_parser("demo", help="make a synthetic archive and run the demo experiment on it")
    d.add_argument("--folder", default="demo", help="working folder (default ./demo)")
    d.add_argument("-n", type=int, default=5000, help="spectra in the synthetic archive")
    d.add_argument("--scheduler", help="address of an existing Dask scheduler")
    d.set_defaults(func=_cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vocloud`` command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError) as exc:
        print(f"vocloud: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
