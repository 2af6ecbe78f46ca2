"""Recommendation benchmark: Patron's recommender next to implicit's ALS and mlxtend's rules.

Run from the repository root::

    .venv/bin/python bench/recommend_bench.py [--no-accuracy] [--min-support S]
                                              [--min-confidence C] [--data DIR] [--keep] [--json]

On UCI Online Retail (``../shared/data``, read through the importer's rules with
``read_transactions(..., skip_invalid=True)``; that reading is timed on its own and not counted),
without its service lines (postage, fees, manual corrections, vouchers: ``SERVICE_SKUS``), every
method gets exactly the same baskets (``patron.recommend.baskets.from_lines``: one row per
(order, product) pair of a known customer), handed over as an ``.npz`` file in ``bench/.data/``:

1. Patron: ``Recommender().fit(baskets, plain(products))``, then ``recommend`` for every customer
   as of the day after the last basket, ``k=10, explain=True``.
2. implicit 0.7.3: ``AlternatingLeastSquares`` (64 factors, 15 iterations, fixed random_state)
   on the customers × products matrix of basket counts (CSR), then its batch ``recommend`` of
   the top 10 for every customer with ``filter_already_liked_items=False``: like Patron's list,
   it may name products the customer bought before.
3. mlxtend 0.25.0: ``fpgrowth`` on the baskets × products one-hot DataFrame (``--min-support``),
   ``association_rules(metric="confidence")`` (``--min-confidence``), then each customer's top
   10: the consequents of the rules whose antecedents the customer has all bought, best
   confidence first. Nothing fills a shorter list.

Each method runs in a process of its own (``bench/recommend_worker.py``; the peers in their own
virtual environment ``bench/.peers/recommend``, made on the first run), which imports what it
needs and loads the baskets first, then times each step and measures its peak resident memory
above what it held before (VmHWM, reset just before the method, minus VmRSS). The table shows
the seconds of each step, Patron's divided by each peer's, and the target: Patron's fit and
top 10 of every customer within 5 s.

Then (``--no-accuracy`` skips it) the accuracy of the same three on the leave-last-basket-out
split (``split_last``): each is fitted on the history and makes its lists for the customers with
a held-out basket; NDCG@10 and hit rate@10 of the "overall" and "new" parts are computed by
``patron.recommend.evaluation.score`` (Patron's through ``evaluate``, its documented protocol,
which also gives the popularity baselines), so speed is not bought with quality.

Progress goes to stderr, so ``--json`` output on stdout stays a clean document. The exit status
is 1 only when the work fails (the data is missing, a method fails), never for a missed target.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from patron.analytics.files import read_transactions
from patron.errors import PatronError
from patron.recommend.baskets import Baskets, from_lines, split_last
from patron.recommend.catalogue import plain
from patron.recommend.evaluation import Scores, evaluate, score
from peers import PEERS, BenchFailed, ensure_venv, python_of

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DATA = BENCH / ".data"
PEER_VENV = PEERS / "recommend"
WORKER = BENCH / "recommend_worker.py"
SHARED_DATA = ROOT.parent / "shared" / "data"
RETAIL = Path("online_retail/online_retail_2010_2011.parquet")
# implicit and mlxtend with the numpy, scipy and pandas Patron runs on; matplotlib and
# scikit-learn are mlxtend's dependencies, pinned so that the environment stays the same.
PEER_REQUIREMENTS = (
    "implicit==0.7.3",
    "mlxtend==0.25.0",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "pandas==3.1.1",
    "threadpoolctl==3.8.0",
    "scikit-learn==1.9.1",
    "matplotlib==3.11.2",
)
# Online Retail's lines that are services, not products: postage (POST, DOT, C2: carriage),
# manual corrections (M, m, D: discount, S: samples, B: bad debt), charity (CRUK), pads,
# bank and Amazon fees, and gift vouchers (gift_…) and DCGS… promotional lines. Nobody should
# be offered them, so no method sees them.
SERVICE_SKUS = frozenset(
    {"POST", "DOT", "M", "m", "C2", "D", "S", "B", "CRUK", "PADS", "BANK CHARGES", "AMAZONFEE"}
)
SERVICE_PREFIXES = ("gift_", "DCGS")

K = 10
ALS_FACTORS = 64
ALS_ITERATIONS = 15
ALS_SEED = 42  # implicit's random_state: the same factors every run
MIN_SUPPORT = 0.01  # fpgrowth: itemsets in at least 1 % of the baskets (about 3 s here)
MIN_CONFIDENCE = 0.1
TARGET_SECONDS = 5.0  # Patron's fit + top 10 of every customer, at most
WORKER_TIMEOUT = 900.0

METHODS = {"patron": "Patron", "implicit": "implicit ALS", "mlxtend": "mlxtend rules"}
PEER_METHODS = ("implicit", "mlxtend")
STEPS = {
    "input": "input matrix",
    "fit": "fit (mlxtend: itemsets)",
    "rules": "association rules",
    "top-10": "top 10, every customer",
}
PARTS = ("overall", "new")
ACCURACY_METHODS = {**METHODS, "popularity": "popularity", "own + popularity": "own+popular"}


# --- the peers' virtual environment and the worker processes --------------------------------


def _peer_python() -> Path:
    return python_of(PEER_VENV)


def ensure_peer() -> dict[str, str]:
    """The peers' virtual environment, made (or remade, when the pins changed) as needed;
    returns the versions it runs with."""
    ensure_venv(
        PEER_VENV.name,
        PEER_REQUIREMENTS,
        say=f"[recommend_bench] making the peers' virtual environment in {PEER_VENV} (once)",
    )
    return call_worker(_peer_python(), {"method": "versions"})


def call_worker(python: Path, job: dict[str, Any]) -> dict[str, Any]:
    """Run ``recommend_worker.py`` on ``job`` with ``python``; its stderr goes to ours."""
    try:
        done = subprocess.run(
            [str(python), str(WORKER), json.dumps(job)],
            stdout=subprocess.PIPE,
            stderr=sys.stderr,
            text=True,
            timeout=WORKER_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"{job['method']} took more than {WORKER_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        raise BenchFailed(f"{job['method']} failed (exit status {done.returncode}); see above")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _python_for(method: str) -> Path:
    return Path(sys.executable) if method == "patron" else _peer_python()


# --- the data -------------------------------------------------------------------------------


def service_lines(products: pa.ChunkedArray) -> list[str]:
    """The product ids of the file that are service lines (``SERVICE_SKUS``, prefixes)."""
    ids = [p for p in pc.unique(products).to_pylist() if p is not None]
    return sorted(p for p in ids if p in SERVICE_SKUS or p.startswith(SERVICE_PREFIXES))


def read_baskets(path: Path) -> tuple[Baskets, dict[str, Any]]:
    """Online Retail's baskets without service lines, and what reading them took."""
    began = time.perf_counter()
    read = read_transactions(path, skip_invalid=True)
    reading = time.perf_counter() - began
    excluded = service_lines(read.lines["product"])
    began = time.perf_counter()
    baskets = from_lines(read.lines, exclude=excluded)
    making = time.perf_counter() - began
    facts = {
        "file": str(path),
        "rows_read": read.rows_read,
        "invalid_rows": len(read.errors),
        "sale_lines": read.lines.num_rows,
        "service_products": excluded,
        "basket_lines": len(baskets),
        "baskets": len(np.unique(baskets.basket)),
        "customers": baskets.n_customers,
        "products": baskets.n_products,
        "reading_seconds": reading,
        "baskets_seconds": making,
    }
    return baskets, facts


def write_baskets(path: Path, baskets: Baskets, targets: np.ndarray | None = None) -> Path:
    """The baskets as plain arrays (no pickles), for the workers."""
    arrays = {
        "customer": baskets.customer,
        "product": baskets.product,
        "basket": baskets.basket,
        "time": baskets.time,
        "customers": baskets.customers.astype(str),
        "products": baskets.products.astype(str),
    }
    if targets is not None:
        arrays["targets"] = targets
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


# --- the two phases -------------------------------------------------------------------------


def speed(baskets_file: Path, settings: dict[str, Any], repeat: int) -> dict[str, dict[str, Any]]:
    """Each method fitted on every basket and its top 10 for every customer, in a process of
    its own (``repeat`` times, a new process each): the run with the smallest total, with its
    seconds by step, CPU seconds and peak memory."""
    results = {}
    for method, label in METHODS.items():
        runs = []
        for attempt in range(repeat):
            _progress(f"speed: {label}, fit and top 10 for every customer ({attempt + 1}/{repeat})")
            job = {**settings, "method": method, "mode": "speed", "baskets": str(baskets_file)}
            found = call_worker(_python_for(method), job)
            found["total_seconds"] = sum(found["seconds"].values())
            runs.append(found)
        results[method] = min(runs, key=lambda found: found["total_seconds"])
        results[method]["runs_total_seconds"] = [found["total_seconds"] for found in runs]
    return results


def accuracy(baskets: Baskets, settings: dict[str, Any], keep: bool) -> dict[str, Any]:
    """Leave-last-basket-out: every method fitted on the history, scored on the held-out
    baskets of the customers who have one, by ``evaluation.score``."""
    history, held = split_last(baskets)
    customers = np.unique(held.customer)
    n = baskets.n_products
    truth = np.unique(held.customer * n + held.product)
    owned = np.unique(history.customer * n + history.product)
    _progress(f"accuracy: Patron (evaluate), {len(customers):,} customers with a held-out basket")
    began = time.perf_counter()
    patron = evaluate(baskets, plain(baskets.products), k=K)
    seconds = {"patron": time.perf_counter() - began}
    scores = {
        (method, part): patron.scores[(method, part)]
        for method in ("patron", "popularity", "own + popularity")
        for part in PARTS
    }
    history_file = write_baskets(DATA / "recommend-history.npz", history, targets=customers)
    try:
        for method in PEER_METHODS:
            _progress(f"accuracy: {METHODS[method]}")
            lists_file = DATA / f"recommend-{method}-lists.npz"
            job = {**settings, "method": method, "mode": "accuracy"}
            job |= {"baskets": str(history_file), "lists": str(lists_file)}
            began = time.perf_counter()
            call_worker(_peer_python(), job)
            seconds[method] = time.perf_counter() - began
            with np.load(lists_file) as lists:
                for part in PARTS:
                    scores[(method, part)] = score(lists[part], customers, truth, owned, part, n, K)
            if not keep:
                lists_file.unlink(missing_ok=True)
    finally:
        if not keep:
            history_file.unlink(missing_ok=True)
    return {
        "customers": len(customers),
        "history_baskets": len(np.unique(history.basket)),
        "seconds": seconds,
        "scores": {f"{method}/{part}": s for (method, part), s in scores.items()},
    }


# --- the report -----------------------------------------------------------------------------


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Patron's figure divided by each peer's, per step, in all, and for memory."""
    patron = results["patron"]
    out: dict[str, dict[str, float | None]] = {}
    for peer in PEER_METHODS:
        theirs = results[peer]
        figures = {
            step: _divide(patron["seconds"].get(step), theirs["seconds"].get(step))
            for step in STEPS
        }
        figures["fit + top 10"] = _divide(patron["total_seconds"], theirs["total_seconds"])
        figures["peak memory"] = _divide(patron["peak_mb"], theirs["peak_mb"])
        out[peer] = figures
    return out


def _divide(ours: float | None, theirs: float | None) -> float | None:
    return None if ours is None or not theirs else ours / theirs


def render(report: dict[str, Any]) -> str:
    data, results = report["data"], report["methods"]
    versions, machine = report["peer_versions"], report["machine"]
    lines = [
        f"Recommendation benchmark: Patron next to implicit {versions['implicit']} (ALS) and"
        f" mlxtend {versions['mlxtend']} (association rules), own virtual environment"
        f" (numpy {versions['numpy']}, scipy {versions['scipy']}, pandas {versions['pandas']},"
        f" Python {versions['python']})",
        f"  {machine['cpus']} cores, load average {machine['load_average']:.2f} at the start;"
        f" Patron on numpy {np.__version__}",
        "",
        f"UCI Online Retail: {data['file']}",
        f"  {data['rows_read']:,} rows read ({data['invalid_rows']:,} invalid left out),"
        f" {data['sale_lines']:,} sale lines; without {len(data['service_products'])} service"
        f" products: {data['basket_lines']:,} (basket, product) pairs, {data['baskets']:,}"
        f" baskets, {data['customers']:,} customers, {data['products']:,} products",
        f"  not counted below: reading the raw file (importer) {data['reading_seconds']:.3f} s,"
        f" baskets from its lines {data['baskets_seconds']:.3f} s",
        "",
        *speed_table(results, report["ratios"], report["settings"]["repeat"]),
        "",
        *settings_lines(report),
        "",
        "  target:",
        f"    Patron's fit + top 10 for every customer <= {TARGET_SECONDS:g} s:"
        f" {report['target']['seconds']:.2f} s: "
        + ("met" if report["target"]["met"] else "MISSED"),
    ]
    if report["accuracy"]:
        lines += ["", *accuracy_table(report["accuracy"])]
    return "\n".join(lines)


def speed_table(
    results: dict[str, dict[str, Any]], ratio: dict[str, Any], repeat: int
) -> list[str]:
    def row(label: str, values: list[str]) -> str:
        return f"  {label:<26}" + "".join(f"{value:>13}" for value in values)

    header = [*(f"{METHODS[m].split()[0]} s" for m in METHODS), "P ÷ implicit", "P ÷ mlxtend"]
    runs = "one run" if repeat == 1 else f"the fastest of {repeat} runs"
    title = f"  seconds, each method in a process of its own ({runs}); P = Patron"
    rows = [title, row("step", header)]
    for step, label in STEPS.items():
        figures = [_s(results[m]["seconds"].get(step)) for m in METHODS]
        rows.append(row(label, figures + [_x(ratio[p][step]) for p in PEER_METHODS]))
    rows.append(
        row(
            "fit + top 10",
            [_s(results[m]["total_seconds"]) for m in METHODS]
            + [_x(ratio[p]["fit + top 10"]) for p in PEER_METHODS],
        )
    )
    rows.append(row("  its CPU seconds", [_s(results[m]["cpu_seconds"]) for m in METHODS]))
    others = [f"{results[m]['others_cpu_share']:.0%}" for m in METHODS]
    rows.append(row("  others' share of the CPU", others))
    rows.append(
        row(
            "peak memory, MB",
            [f"{results[m]['peak_mb']:.0f}" for m in METHODS]
            + [_x(ratio[p]["peak memory"]) for p in PEER_METHODS],
        )
    )
    fill = [f"{results[m]['lists']['full']:,}/{results[m]['lists']['empty']:,}" for m in METHODS]
    rows.append(row("lists full / empty", fill))
    return rows


def settings_lines(report: dict[str, Any]) -> list[str]:
    results, settings = report["methods"], report["settings"]
    mlxtend, threads = results["mlxtend"], results["implicit"]["num_threads"]
    return [
        "  Patron: Recommender().fit(baskets, plain(products)); recommend(every customer,"
        " now = the day after the last basket, k=10, explain=True)",
        f"  implicit: AlternatingLeastSquares(factors={settings['factors']},"
        f" iterations={settings['iterations']}, random_state={settings['random_state']}),"
        f" num_threads={threads} (all cores), BLAS at 1 thread; basket counts as confidence;"
        " recommend(..., filter_already_liked_items=False)",
        f"  mlxtend: fpgrowth(min_support={settings['min_support']:g}):"
        f" {mlxtend['itemsets']:,} itemsets (up to {mlxtend['largest_itemset']} products);"
        f" association_rules(confidence >= {settings['min_confidence']:g}):"
        f" {mlxtend['rules']:,} rules; lists from the rules only",
        f"  memory: {results['patron']['memory_measure']}, after imports and loading",
    ]


def accuracy_table(found: dict[str, Any]) -> list[str]:
    scores: dict[str, Scores] = found["scores"]
    head = "".join(f"{label:>14}" for label in ACCURACY_METHODS.values())
    rows = [
        f"  accuracy, leave-last-basket-out: fitted on the history ({found['history_baskets']:,}"
        f" baskets), scored on the last basket of {found['customers']:,} customers",
        f"  {'part':<9}{'customers':>10}  {'metric':<12}{head}",
    ]
    for part in PARTS:
        counted = scores[f"patron/{part}"].customers
        for index, (metric, field) in enumerate((("NDCG@10", "ndcg"), ("hit rate@10", "hit_rate"))):
            cells = "".join(
                f"{getattr(scores[f'{method}/{part}'], field):>14.4f}"
                for method in ACCURACY_METHODS
            )
            lead = f"{part:<9}{counted:>10,}" if index == 0 else " " * 19
            rows.append(f"  {lead}  {metric:<12}{cells}")
    seconds = ", ".join(f"{METHODS[m]} {s:.1f} s" for m, s in found["seconds"].items())
    rows.append(f'  (this phase: {seconds}; "new": products the customer never bought)')
    return rows


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.3f}"


def _x(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}"


def _progress(message: str) -> None:
    print(f"[recommend_bench] {message}", file=sys.stderr, flush=True)


# --- running --------------------------------------------------------------------------------


def run(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    settings = {
        "factors": ALS_FACTORS,
        "iterations": ALS_ITERATIONS,
        "random_state": ALS_SEED,
        "min_support": args.min_support,
        "min_confidence": args.min_confidence,
    }
    machine = {"cpus": os.cpu_count() or 0, "load_average": os.getloadavg()[0]}
    versions = ensure_peer()
    _progress("peers: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    _progress("reading Online Retail through the importer's rules")
    baskets, data = read_baskets(path)
    baskets_file = write_baskets(DATA / "recommend-retail-baskets.npz", baskets)
    try:
        results = speed(baskets_file, settings, args.repeat)
    finally:
        if not args.keep:
            baskets_file.unlink(missing_ok=True)
    total = results["patron"]["total_seconds"]
    return {
        "data": data,
        "machine": machine,
        "peer_versions": versions,
        "settings": {**settings, "repeat": args.repeat},
        "methods": results,
        "ratios": ratios(results),
        "target": {"seconds": total, "at_most": TARGET_SECONDS, "met": total <= TARGET_SECONDS},
        "accuracy": None if args.no_accuracy else accuracy(baskets, settings, args.keep),
    }


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=SHARED_DATA, help=f"the real data (default {SHARED_DATA})"
    )
    parser.add_argument(
        "--repeat", type=_positive, default=1, help="runs of each method (the fastest is kept)"
    )
    parser.add_argument("--no-accuracy", action="store_true", help="skip the accuracy phase")
    parser.add_argument("--min-support", type=float, default=MIN_SUPPORT, help="for fpgrowth")
    parser.add_argument(
        "--min-confidence", type=float, default=MIN_CONFIDENCE, help="for association_rules"
    )
    parser.add_argument("--keep", action="store_true", help="keep the files in bench/.data")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)

    path = args.data / RETAIL
    if not path.is_file():
        message = (
            f"{path} is absent: UCI Online Retail comes from the shared data"
            " (../shared/data beside the project), or --data DIR"
        )
        return _fail(f"the recommendation benchmark cannot run: {message}", message, args.json)
    try:
        report = run(path, args)
    except (BenchFailed, PatronError, TimeoutError) as exc:
        message = str(exc)
        if isinstance(exc, PatronError):
            message = f"Patron failed: [{exc.code}] {exc.message}"
        return _fail(f"the recommendation benchmark failed: {message}", message, args.json)
    if args.json:
        print(json.dumps(report, indent=2, default=_plain))
    else:
        print(render(report))
    return 0


def _fail(text: str, message: str, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"error": message}, indent=2))
    else:
        print(text, file=sys.stderr)
    return 1


def _plain(value: object) -> object:
    if isinstance(value, Scores):
        return {name: getattr(value, name) for name in Scores.__dataclass_fields__}
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
