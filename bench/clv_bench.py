"""CLV benchmark: Patron's summary and buy-till-you-die models next to lifetimes 0.11.3, on real data.

Run from the repository root::

    .venv/bin/python bench/clv_bench.py [--dataset cdnow|retail|all] [--repeat N]
                                        [--data DIR] [--pareto-budget S] [--keep] [--json]

On each real data set of ``../shared/data`` (CDNOW master: 69,659 purchases of 23,570
customers; UCI Online Retail: 541,909 invoice lines of 4,372 customers, with cancellations):

1. Patron, end to end, from the same transaction table lifetimes gets (``customer_id, date,
   amount`` in Parquet, made from the raw file by ``read_transactions``, the importer's rules;
   that reading is timed on its own and shown as "raw file (importer)": lifetimes has no
   reader for raw shop files at all): ``facts_from_arrow``, ``summarise(..., unit="week")`` up
   to the last purchase day,
   ``BetaGeoFitter`` and ``GammaGammaFitter`` fits, then P(alive), the expected purchases in
   the next 52 weeks and the 12-month CLV (1 % a month, 4.345 weeks a month) of every customer.
   The whole pipeline and each step (reading, summary, fits, predictions) are timed.
2. lifetimes 0.11.3 doing the same, in its own virtual environment (``bench/.peers/lifetimes``,
   made on the first run with pinned numpy, pandas and scipy that it works with), as a
   subprocess. For a fair comparison it gets the transaction table Patron read (the sale lines
   of known customers as ``customer_id, date, amount``, written to ``bench/.data/``), and makes
   its summary with ``summary_data_from_transaction_data(freq="D", freq_multiplier=7)``: recency
   and T in days / 7, same-day purchases summed, monetary the mean of the repeat purchase days:
   Patron's convention exactly. Both read that Parquet file ("reading").
3. Compares the parameters (r, alpha, a, b; p, q, v: relative differences, target <= 1e-3), the
   summaries (customers, total frequency, and customer by customer) and the predictions.
4. Times the Pareto/NBD fit of both on the same summary (lifetimes with its default settings;
   its random start is seeded). Target: Patron >= 25x faster.
5. Times a DuckDB floor, one scan-and-group of the same sale lines in an in-memory DuckDB, and
   all of Patron's analyses on the same facts (``scoring.score``: summary, ABC, RFM, trend,
   CLV, phases, loyalty types, profit), without reading the file. Target: <= 5x the floor.
6. Prints a table per data set: step, Patron's seconds, lifetimes' seconds, their ratio
   (Patron divided by lifetimes), the targets (end to end >= 10x faster, Pareto/NBD >= 25x,
   analyses <= 5x the DuckDB floor, parameters within 1e-3) and whether each was met.

Every timing is the best of N runs (``--repeat``, default 3), each step's best on its own, so a
one-off warm-up (imports, first queries) does not dominate. Customers whose first purchase is
on the last day (T = 0) are left out of the fits by both tools, and predicted at T = 1e-6.

Progress goes to stderr, so ``--json`` output on stdout stays a clean document. The exit status
is 1 only when the work fails (the data folder is missing, Patron or lifetimes fails), not when
a target is missed: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from patron.analytics import clv
from patron.analytics.facts import Facts, facts_from_arrow
from patron.analytics.files import read_transactions
from patron.analytics.scoring import ScoringSettings, score
from patron.analytics.summary import period_bounds, summarise
from patron.errors import PatronError
from peers import PEERS, BenchFailed, ensure_venv, python_of

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DATA = BENCH / ".data"
PEER_VENV = PEERS / "lifetimes"
PEER_SCRIPT = PEERS / "clv_lifetimes_peer.py"
SHARED_DATA = ROOT.parent / "shared" / "data"
# lifetimes 0.11.3 (2020) with the numpy, pandas and scipy it was checked to import and run with
# here; setuptools < 81 still has pkg_resources, which old packages may import.
PEER_REQUIREMENTS = (
    "lifetimes==0.11.3",
    "setuptools<81",
    "numpy==2.4.6",
    "pandas==3.1.1",
    "scipy==1.17.1",
    "autograd==1.9.1",
    "pyarrow==26.0.1",
)
DATASETS = {
    "cdnow": ("CDNOW master", Path("cdnow/CDNOW_master.txt")),
    "retail": ("UCI Online Retail", Path("online_retail/online_retail_2010_2011.parquet")),
    "synthetic": ("Synthetic shop (BG/NBD + Gamma-Gamma)", None),
}
DEFAULT_SYNTHETIC_CUSTOMERS = 100_000
SYNTHETIC_VERSION = 1  # bump when the generator changes: a stale file is never reused
DEFAULT_REPEAT = 3
DEFAULT_PARETO_BUDGET = 300.0  # seconds for lifetimes' Pareto/NBD fits on one data set
PARETO_SEED = 20_240_601  # lifetimes' Pareto/NBD starts from a random point: the same each run

HORIZON_WEEKS = 52
CLV_MONTHS = 12
MONTHLY_DISCOUNT = 0.01
WEEKS_PER_MONTH = 4.345  # lifetimes' factor for freq="W"
TINY_T = 1e-6  # the age at which a customer with T = 0 is predicted (both tools)

TARGET_END_TO_END = 10.0  # lifetimes' seconds / Patron's, at least
TARGET_PARETO = 25.0  # lifetimes' seconds / Patron's, at least
TARGET_FLOOR = 5.0  # Patron's analyses / the DuckDB floor, at most
TARGET_PARAMS = 1e-3  # relative difference of every parameter, at most

STEPS = ("reading", "summary", "BG/NBD fit", "Gamma-Gamma fit", "predictions")
FLOOR_QUERY = (
    "SELECT customer_id, count(DISTINCT CAST(placed_at AS DATE)) AS purchase_days,"
    " min(placed_at) AS first_purchase, max(placed_at) AS last_purchase, sum(amount) AS sales"
    " FROM lines GROUP BY 1"
)

# --- the peer: lifetimes in its own virtual environment ------------------------------------

PEER_CODE = r'''"""lifetimes' side of bench/clv_bench.py (written by it; runs in bench/.peers/lifetimes).

Argument: one JSON object. Prints one JSON document on stdout.
"""

import json
import math
import sys
import time
from importlib.metadata import version

import numpy as np
import pandas as pd
import lifetimes
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
from lifetimes.utils import summary_data_from_transaction_data


def summary_of(lines, end):
    return summary_data_from_transaction_data(
        lines, "customer_id", "date", "amount",
        observation_period_end=end, freq="D", freq_multiplier=7,
    )


def pipeline(job):
    best, runs = {}, []
    for _ in range(job["repeat"]):
        seconds = {}
        began = clock = time.perf_counter()

        def lap(step):
            nonlocal clock
            now = time.perf_counter()
            seconds[step] = now - clock
            clock = now

        lines = pd.read_parquet(job["lines"])
        lap("reading")
        summary = summary_of(lines, job["end"])
        x, t_x, T = summary["frequency"], summary["recency"], summary["T"]
        m = summary["monetary_value"]
        fitted = summary[T > 0]
        lap("summary")
        bgf = BetaGeoFitter().fit(fitted["frequency"], fitted["recency"], fitted["T"])
        lap("BG/NBD fit")
        repeat = fitted[(fitted["frequency"] > 0) & (fitted["monetary_value"] > 0)]
        ggf = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
        lap("Gamma-Gamma fit")
        age = T.clip(lower=job["tiny_t"])
        alive = np.asarray(bgf.conditional_probability_alive(x, t_x, age), dtype=float)
        expected = np.asarray(
            bgf.conditional_expected_number_of_purchases_up_to_time(job["horizon"], x, t_x, age),
            dtype=float,
        )
        valued = ((x == 0) | (m > 0)).to_numpy()
        value = ggf.customer_lifetime_value(
            bgf, x[valued], t_x[valued], age[valued], m[valued],
            time=job["months"], discount_rate=job["discount"], freq="W",
        )
        lap("predictions")
        seconds["end to end"] = time.perf_counter() - began
        seconds["from the table"] = seconds["end to end"] - seconds["reading"]
        runs.append(seconds)
        for step, value_ in seconds.items():
            best[step] = min(best.get(step, math.inf), value_)
    clv = np.full(len(summary), np.nan)
    clv[valued] = np.asarray(value, dtype=float)
    pd.DataFrame(
        {
            "customer_id": summary.index.astype(str),
            "frequency": x.to_numpy(),
            "recency": t_x.to_numpy(),
            "T": T.to_numpy(),
            "monetary": m.to_numpy(),
            "p_alive": alive,
            "expected": expected,
            "clv": clv,
        }
    ).to_parquet(job["predictions"], index=False)
    return {
        "seconds": best,
        "runs": runs,
        "customers": int(len(summary)),
        "total_frequency": float(x.sum()),
        "fitted_customers": int(len(fitted)),
        "repeat_customers": int(len(repeat)),
        "valued_customers": int(valued.sum()),
        "bgnbd": {k: float(v) for k, v in bgf.params_.items()},
        "gamma_gamma": {k: float(v) for k, v in ggf.params_.items()},
    }


def pareto(job):
    lines = pd.read_parquet(job["lines"])
    summary = summary_of(lines, job["end"])
    fitted = summary[summary["T"] > 0]
    runs, spent = [], 0.0
    for _ in range(job["repeat"]):
        np.random.seed(job["seed"])
        began = time.perf_counter()
        model = ParetoNBDFitter().fit(fitted["frequency"], fitted["recency"], fitted["T"])
        runs.append(time.perf_counter() - began)
        spent += runs[-1]
        if spent + runs[-1] > job["budget"]:
            break
    return {
        "seconds": min(runs),
        "runs": runs,
        "params": {k: float(v) for k, v in model.params_.items()},
    }


def versions():
    names = ("lifetimes", "numpy", "pandas", "scipy", "autograd", "pyarrow")
    found = {name: version(name) for name in names}
    found["python"] = sys.version.split()[0]
    return found


if __name__ == "__main__":
    job = json.loads(sys.argv[1])
    if job["mode"] == "versions":
        print(json.dumps(versions()))
    elif job["mode"] == "pipeline":
        print(json.dumps(pipeline(job)))
    else:
        print(json.dumps(pareto(job)))
'''


def _peer_python() -> Path:
    return python_of(PEER_VENV)


def ensure_peer() -> dict[str, str]:
    """lifetimes' virtual environment, made (or remade, when the pins changed) as needed;
    returns the versions it runs with."""
    ensure_venv(
        PEER_VENV.name,
        PEER_REQUIREMENTS,
        say=f"[clv_bench] making lifetimes' virtual environment in {PEER_VENV} (once)",
    )
    PEER_SCRIPT.parent.mkdir(parents=True, exist_ok=True)
    PEER_SCRIPT.write_text(PEER_CODE)
    return call_peer({"mode": "versions"}, timeout=300)


def call_peer(job: dict[str, Any], *, timeout: float) -> dict[str, Any]:
    """Run the peer script on ``job``; its stderr (warnings) goes to ours."""
    try:
        done = subprocess.run(
            [str(_peer_python()), str(PEER_SCRIPT), json.dumps(job)],
            stdout=subprocess.PIPE,
            stderr=sys.stderr,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"lifetimes took more than {timeout:.0f} s") from None
    if done.returncode != 0:
        raise BenchFailed(
            f"lifetimes failed ({job['mode']}, exit status {done.returncode}); see above"
        )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- Patron's side --------------------------------------------------------------------------


@dataclass
class Customers:
    """The per-customer summary Patron made and its predictions, as numpy arrays."""

    ids: pa.Array
    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    m: np.ndarray
    p_alive: np.ndarray
    expected: np.ndarray
    clv: np.ndarray


@dataclass
class PatronRun:
    seconds: dict[str, float]  # each step's best, and the whole's
    runs: list[dict[str, float]]
    rows_read: int
    sale_lines: int
    known_sale_lines: int
    returns: int
    end: str
    customers: int
    total_frequency: float
    fitted_customers: int
    repeat_customers: int
    valued_customers: int
    bgnbd: dict[str, float]
    gamma_gamma: dict[str, float]


def read_raw(path: Path, repeat: int) -> tuple[float, pa.Table, pa.Table, int]:
    """The importer's reading of the raw file (best of ``repeat``): sale lines, returns, rows."""
    best = math.inf
    for _ in range(repeat):
        began = time.perf_counter()
        read = read_transactions(path)
        best = min(best, time.perf_counter() - began)
    return best, read.lines, read.returns, read.rows_read


def clean_lines(lines_file: Path) -> pa.Table:
    """The shared transaction table (customer_id, date, amount) as Patron's sale lines."""
    table = pq.read_table(lines_file)
    return pa.table(
        {
            "customer_id": table["customer_id"],
            "placed_at": pc.cast(table["date"], pa.timestamp("us")),
            "amount": table["amount"],
        }
    )


def bench_patron(
    lines_file: Path, repeat: int, raw: tuple[float, pa.Table, pa.Table, int]
) -> tuple[PatronRun, Customers, pa.Table, pa.Table]:
    """Patron's pipeline from the shared transaction table to the predictions, ``repeat``
    times; the best figures, the last run's customers, and the raw file's lines and returns."""
    raw_seconds, raw_lines, raw_returns, rows_read = raw
    best: dict[str, float] = {}
    runs: list[dict[str, float]] = []
    for _ in range(repeat):
        seconds: dict[str, float] = {}
        began = clock = time.perf_counter()

        def lap(step: str, seconds: dict[str, float] = seconds) -> None:
            nonlocal clock
            now = time.perf_counter()
            seconds[step] = now - clock
            clock = now

        facts = facts_from_arrow(clean_lines(lines_file))
        lap("reading")
        bounds = period_bounds(facts)
        if bounds is None:
            raise BenchFailed(f"{lines_file.name}: no purchases of known customers")
        end = bounds[1]
        table = summarise(facts, end=end, unit="week").to_pyarrow()
        x = _floats(table, "frequency")
        t_x, T, m = _floats(table, "recency"), _floats(table, "T"), _floats(table, "monetary")
        lap("summary")
        fitted = T > 0
        bgf = clv.BetaGeoFitter().fit(x[fitted], t_x[fitted], T[fitted])
        lap("BG/NBD fit")
        repeats = fitted & (x > 0) & (m > 0)
        ggf = clv.GammaGammaFitter().fit(x[repeats], m[repeats])
        lap("Gamma-Gamma fit")
        age = np.maximum(T, TINY_T)
        alive = bgf.conditional_probability_alive(x, t_x, age)
        expected = bgf.conditional_expected_number_of_purchases_up_to_time(
            HORIZON_WEEKS, x, t_x, age
        )
        # Patron refuses a repeat customer whose repeat purchases sum to 0 (m = 0 with x > 0):
        # their CLV is left out on both sides.
        valued = (x == 0) | (m > 0)
        value = np.full(x.shape[0], np.nan)
        value[valued] = ggf.customer_lifetime_value(
            bgf,
            x[valued],
            t_x[valued],
            age[valued],
            m[valued],
            time=CLV_MONTHS,
            discount_rate=MONTHLY_DISCOUNT,
            freq_unit_per_period=WEEKS_PER_MONTH,
        )
        lap("predictions")
        seconds["end to end"] = time.perf_counter() - began
        seconds["from the table"] = seconds["end to end"] - seconds["reading"]
        runs.append(seconds)
        for step, value_ in seconds.items():
            best[step] = min(best.get(step, math.inf), value_)
    known = raw_lines.filter(pc.is_valid(raw_lines["customer_id"]))
    best["reading the raw file"] = raw_seconds
    run = PatronRun(
        seconds=best,
        runs=runs,
        rows_read=rows_read,
        sale_lines=raw_lines.num_rows,
        known_sale_lines=known.num_rows,
        returns=raw_returns.num_rows,
        end=end.isoformat(),
        customers=table.num_rows,
        total_frequency=float(x.sum()),
        fitted_customers=int(fitted.sum()),
        repeat_customers=int(repeats.sum()),
        valued_customers=int(valued.sum()),
        bgnbd=dict(bgf.params_),
        gamma_gamma=dict(ggf.params_),
    )
    customers = Customers(
        ids=table["customer_id"].combine_chunks(),
        x=x,
        t_x=t_x,
        T=T,
        m=m,
        p_alive=alive,
        expected=expected,
        clv=value,
    )
    return run, customers, raw_lines, raw_returns


def _floats(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table[name].to_numpy(zero_copy_only=False), dtype=np.float64)


def bench_patron_pareto(customers: Customers, repeat: int) -> tuple[float, dict[str, float]]:
    fitted = customers.T > 0
    x, t_x, T = customers.x[fitted], customers.t_x[fitted], customers.T[fitted]
    best = math.inf
    for _ in range(repeat):
        began = time.perf_counter()
        model = clv.ParetoNBDFitter().fit(x, t_x, T)
        best = min(best, time.perf_counter() - began)
    return best, dict(model.params_)


@dataclass
class Floor:
    duckdb_version: str
    threads: int
    floor_seconds: float
    groups: int
    analyses_seconds: float
    analyses_parts: dict[str, float]  # scoring's own clock, of the best run
    scored_customers: int
    warnings: list[str]


def bench_floor(facts: Facts, lines: pa.Table, repeat: int) -> Floor:
    """The DuckDB scan-and-group of the sale lines, and all of Patron's analyses."""
    connection = duckdb.connect()
    try:
        connection.register("lines", lines)
        floor, groups = math.inf, 0
        for _ in range(repeat):
            began = time.perf_counter()
            result = connection.sql(FLOOR_QUERY).to_arrow_table()
            floor = min(floor, time.perf_counter() - began)
            groups = result.num_rows
        row = connection.execute("SELECT current_setting('threads')").fetchone()
        threads = int(row[0]) if row else 0
    finally:
        connection.close()
    settings = ScoringSettings(holdout_share=0.0)
    best, parts, scored, warnings = math.inf, {}, 0, []
    for _ in range(repeat):
        began = time.perf_counter()
        scoring = score(facts, settings=settings)
        seconds = time.perf_counter() - began
        if seconds < best:
            best, parts = seconds, dict(scoring.seconds)
        scored, warnings = scoring.scores.num_rows, list(scoring.warnings)
    return Floor(
        duckdb_version=duckdb.__version__,
        threads=threads,
        floor_seconds=floor,
        groups=groups,
        analyses_seconds=best,
        analyses_parts=parts,
        scored_customers=scored,
        warnings=warnings,
    )


# --- comparing ------------------------------------------------------------------------------


def relative(ours: float, theirs: float) -> float:
    if ours == theirs:
        return 0.0
    return abs(ours - theirs) / max(abs(theirs), 1e-300)


def compare_customers(customers: Customers, predictions: pa.Table) -> dict[str, Any]:
    """Customer by customer: the summaries' largest differences, and the predictions'."""
    theirs = {name: predictions[name].to_numpy() for name in predictions.column_names[1:]}
    where = pc.index_in(customers.ids, value_set=predictions["customer_id"].combine_chunks())
    if where.null_count:
        return {"same_customers": False, "missing_in_lifetimes": where.null_count}
    order = where.to_numpy().astype(np.int64)
    ours = {
        "frequency": customers.x,
        "recency": customers.t_x,
        "T": customers.T,
        "monetary": customers.m,
        "p_alive": customers.p_alive,
        "expected": customers.expected,
        "clv": customers.clv,
    }
    found: dict[str, Any] = {"same_customers": len(order) == predictions.num_rows}
    for name, values in ours.items():
        other = theirs[name][order]
        both = ~(np.isnan(values) | np.isnan(other))
        delta = np.abs(values[both] - other[both])
        scale = np.abs(other[both])
        big = scale >= 1e-6  # relative differences of values near 0 say nothing
        found[name] = {
            "max_abs": float(delta.max()) if delta.size else 0.0,
            "max_rel": float((delta[big] / scale[big]).max()) if big.any() else 0.0,
            "sum_ours": float(values[both].sum()),
            "sum_theirs": float(other[both].sum()),
        }
    return found


# --- reporting ------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    figure: float
    target: float
    at_least: bool  # the figure must be >= the target (else <=)
    met: bool = field(init=False)
    note: str = ""

    def __post_init__(self) -> None:
        ok = self.figure >= self.target if self.at_least else self.figure <= self.target
        self.met = bool(ok) and math.isfinite(self.figure)


@dataclass
class DatasetReport:
    name: str
    label: str
    file: str
    patron: PatronRun
    lifetimes: dict[str, Any]
    pareto_patron_seconds: float
    pareto_patron_params: dict[str, float]
    pareto_lifetimes: dict[str, Any] | None  # None: not measured (see pareto_note)
    pareto_note: str
    parameters: dict[str, dict[str, float]]  # name -> patron, lifetimes, relative
    summaries_agree: bool
    customers_compared: dict[str, Any]
    floor: Floor
    targets: list[Target]


def build_report(
    name: str,
    path: Path,
    patron: PatronRun,
    peer: dict[str, Any],
    pareto: tuple[float, dict[str, float]],
    peer_pareto: dict[str, Any] | None,
    pareto_note: str,
    compared: dict[str, Any],
    floor: Floor,
) -> DatasetReport:
    parameters: dict[str, dict[str, float]] = {}
    for model in ("bgnbd", "gamma_gamma"):
        ours, theirs = getattr(patron, model), peer[model]
        for key, value in ours.items():
            parameters[key] = {
                "patron": value,
                "lifetimes": theirs[key],
                "relative": relative(value, theirs[key]),
            }
    agree = (
        patron.customers == peer["customers"]
        and patron.total_frequency == peer["total_frequency"]
        and bool(compared.get("same_customers"))
    )
    worst = max(parameters, key=lambda key: parameters[key]["relative"])
    targets = [
        Target(
            "end to end: lifetimes / Patron",
            peer["seconds"]["end to end"] / patron.seconds["end to end"],
            TARGET_END_TO_END,
            at_least=True,
        ),
        Target(
            "Pareto/NBD fit: lifetimes / Patron",
            (peer_pareto["seconds"] / pareto[0]) if peer_pareto else math.nan,
            TARGET_PARETO,
            at_least=True,
            note=pareto_note,
        ),
        Target(
            "all analyses / DuckDB floor",
            floor.analyses_seconds / floor.floor_seconds,
            TARGET_FLOOR,
            at_least=False,
        ),
        Target(
            "parameters: largest relative difference",
            parameters[worst]["relative"],
            TARGET_PARAMS,
            at_least=False,
            note=f"{worst}",
        ),
    ]
    return DatasetReport(
        name=name,
        label=DATASETS[name][0],
        file=str(path),
        patron=patron,
        lifetimes=peer,
        pareto_patron_seconds=pareto[0],
        pareto_patron_params=pareto[1],
        pareto_lifetimes=peer_pareto,
        pareto_note=pareto_note,
        parameters=parameters,
        summaries_agree=agree,
        customers_compared=compared,
        floor=floor,
        targets=targets,
    )


def _ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None or not theirs:
        return "-"
    return f"{ours / theirs:.2f}"


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.3f}"


def render(report: DatasetReport, repeat: int) -> str:
    patron, peer = report.patron, report.lifetimes
    ps, ls = patron.seconds, peer["seconds"]
    pareto_peer = report.pareto_lifetimes["seconds"] if report.pareto_lifetimes else None
    rows = [("step", "Patron s", "lifetimes s", "ratio")]
    for step in (*STEPS, "end to end", "from the table"):
        label = "  (without reading)" if step == "from the table" else step
        rows.append((label, _s(ps[step]), _s(ls[step]), _ratio(ps[step], ls[step])))
    rows.append(("raw file (importer)", _s(ps.get("reading the raw file")), "-", "-"))
    rows.append(
        (
            "Pareto/NBD fit",
            _s(report.pareto_patron_seconds),
            _s(pareto_peer),
            _ratio(report.pareto_patron_seconds, pareto_peer),
        )
    )
    table = "\n".join(f"  {a:<22}{b:>11}{c:>14}{d:>9}" for a, b, c, d in rows)
    floor = report.floor
    param_rows = "\n".join(
        f"  {key:<7}{p['patron']:>16.6g}{p['lifetimes']:>16.6g}{p['relative']:>12.1e}"
        for key, p in report.parameters.items()
    )
    compared = report.customers_compared
    per_customer = (
        [
            "  customer by customer (largest difference, absolute / relative):",
            *(
                f"    {name:<10}{compared[name]['max_abs']:>11.3g}"
                f"{compared[name]['max_rel']:>11.2e}"
                f"   (sums {compared[name]['sum_ours']:,.6g} / {compared[name]['sum_theirs']:,.6g})"
                for name in ("recency", "T", "monetary", "p_alive", "expected", "clv")
            ),
        ]
        if compared.get("same_customers")
        else [f"  the customers differ: {compared}"]
    )
    pareto_params = ""
    if report.pareto_lifetimes:
        pareto_params = "\n".join(
            f"    {key:<7}{value:>14.6g}{report.pareto_lifetimes['params'][key]:>14.6g}"
            for key, value in report.pareto_patron_params.items()
        )
    parts = ", ".join(f"{k} {v:.3f}" for k, v in floor.analyses_parts.items())
    targets = []
    for target in report.targets:
        sign = ">=" if target.at_least else "<="
        if math.isfinite(target.figure):
            shown = (
                f"{target.figure:.2e}"
                if target.target < 0.1
                else f"{target.figure:.2f}x"
                if target.at_least
                else f"{target.figure:.1f}x"
            )
        else:
            shown = "not measured"
        wanted = f"{target.target:.0e}" if target.target < 0.1 else f"{target.target:g}x"
        note = f" ({target.note})" if target.note else ""
        targets.append(
            f"    {target.name} {sign} {wanted}: {shown}{note}: "
            + ("met" if target.met else "MISSED")
        )
    agree = "agree" if report.summaries_agree else "DIFFER"
    missing_value = patron.customers - patron.valued_customers
    return "\n".join(
        [
            f"{report.label}: {report.file}",
            f"  {patron.rows_read:,} rows read; {patron.sale_lines:,} sale lines"
            f" ({patron.known_sale_lines:,} of known customers), {patron.returns:,} returns;"
            f" period up to {patron.end}",
            f"  {patron.customers:,} customers, {patron.fitted_customers:,} with T > 0 fitted,"
            f" {patron.repeat_customers:,} repeat customers for Gamma-Gamma",
            "",
            f"  best of {_runs(repeat)}, each step's best on its own; ratio = Patron / lifetimes",
            table,
            "",
            f"  DuckDB floor (one scan-and-group of the {patron.known_sale_lines:,} sale lines):"
            f" {floor.floor_seconds:.4f} s, {floor.groups:,} customers"
            f" (DuckDB {floor.duckdb_version}, {floor.threads} threads)",
            f"  Patron's analyses (scoring.score, no holdout): {floor.analyses_seconds:.3f} s"
            f" = {floor.analyses_seconds / floor.floor_seconds:.1f}x the floor"
            f" ({floor.scored_customers:,} customers; {parts})",
            "",
            f"  parameters{'Patron':>17}{'lifetimes':>16}{'relative':>12}",
            param_rows,
            f"  summaries {agree}: customers {patron.customers:,} / {peer['customers']:,},"
            f" total frequency {patron.total_frequency:,.0f} / {peer['total_frequency']:,.0f}",
            *per_customer,
            *(
                [
                    f"  CLV left out for {missing_value} repeat customer(s) whose repeat"
                    " purchases sum to 0 (Patron's customer_lifetime_value refuses m = 0"
                    " with x > 0; lifetimes accepts it)"
                ]
                if missing_value
                else []
            ),
            *(
                [f"  Pareto/NBD parameters{'Patron':>12}{'lifetimes':>14}", pareto_params]
                if pareto_params
                else []
            ),
            *([f"  Pareto/NBD: {report.pareto_note}"] if report.pareto_note else []),
            "",
            "  targets:",
            *targets,
            "    summaries agree (customers, total frequency, customer by customer): "
            + ("met" if report.summaries_agree else "MISSED"),
        ]
    )


def _machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count() or 0, "load_average": os.getloadavg()[0]}


def _runs(repeat: int) -> str:
    return f"{repeat} run" if repeat == 1 else f"{repeat} runs"


def _progress(message: str) -> None:
    print(f"[clv_bench] {message}", file=sys.stderr, flush=True)


# --- running --------------------------------------------------------------------------------


def synthetic_file(customers: int) -> Path:
    """A shop's order lines in Patron's canonical layout, drawn from BG/NBD (r 0.25, α 4.5,
    a 0.8, b 2.5 per week) and Gamma-Gamma (p 6, q 4, γ 15): first purchases spread over the
    first year, observed for two years. Generated once per size (fixed seed) into bench/.data/."""
    path = DATA / f"clv-synthetic-{customers}-v{SYNTHETIC_VERSION}.parquet"
    if path.is_file():
        return path
    _progress(f"generating {customers:,} synthetic customers into {path}")
    rng = np.random.default_rng(20_261_202)
    rate = rng.gamma(0.25, 1 / 4.5, customers)  # purchases per week while alive
    dropout = rng.beta(0.8, 2.5, customers)
    nu = rng.gamma(4.0, 1 / 15.0, customers)
    start = rng.uniform(0, 52, customers)  # first purchase, weeks after the origin
    end = 104.0
    owners, times = [np.arange(customers)], [start]
    clock, alive = start.copy(), np.arange(customers)
    while alive.size:
        clock[alive] += rng.exponential(1 / np.maximum(rate[alive], 1e-12))
        alive = alive[clock[alive] < end]
        owners.append(alive)
        times.append(clock[alive])
        alive = alive[rng.random(alive.size) >= dropout[alive]]  # leaves after a repeat purchase
    owner, weeks = np.concatenate(owners), np.concatenate(times)
    amount = np.round(rng.gamma(6.0, 1 / nu[owner]), 2)
    origin = np.datetime64("2024-01-01T00:00:00", "s")
    placed = origin + (weeks * 7 * 86_400).astype("timedelta64[s]")
    table = pa.table(
        {
            "order_id": pa.array(np.arange(owner.size).astype(str)),
            "customer_id": pa.array(np.char.add("C", owner.astype(str))),
            "placed_at": pa.array(placed.astype("datetime64[s]").astype(str)),
            "quantity": pa.array(np.ones(owner.size)),
            "amount": pa.array(np.maximum(amount, 0.01)),
        }
    )
    DATA.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def run_dataset(
    name: str, data: Path, repeat: int, pareto_budget: float, keep: bool, customers: int
) -> DatasetReport:
    relative_path = DATASETS[name][1]
    path = synthetic_file(customers) if relative_path is None else data / relative_path
    label = DATASETS[name][0]
    if not path.is_file():
        raise BenchFailed(f"{path} is missing")
    _progress(f"{label}: reading the raw file through the importer's rules, {_runs(repeat)}")
    raw = read_raw(path, repeat)
    lines = raw[1]
    # Both tools start from the same transaction table: known customers' sale lines.
    known = lines.filter(pc.is_valid(lines["customer_id"]))
    DATA.mkdir(parents=True, exist_ok=True)
    lines_file = DATA / f"clv-{name}-lines.parquet"
    predictions_file = DATA / f"clv-{name}-lifetimes-predictions.parquet"
    pq.write_table(
        pa.table(
            {
                "customer_id": known["customer_id"],
                "date": pc.cast(known["placed_at"], pa.date32()),
                "amount": known["amount"],
            }
        ),
        lines_file,
    )
    _progress(f"{label}: Patron end to end, {_runs(repeat)}")
    patron, customers, lines, returns = bench_patron(lines_file, repeat, raw)
    job = {
        "lines": str(lines_file),
        "end": patron.end,
        "repeat": repeat,
        "predictions": str(predictions_file),
        "tiny_t": TINY_T,
        "horizon": HORIZON_WEEKS,
        "months": CLV_MONTHS,
        "discount": MONTHLY_DISCOUNT,
    }
    try:
        _progress(f"{label}: lifetimes end to end, {_runs(repeat)}")
        peer = call_peer({**job, "mode": "pipeline"}, timeout=1800)
        compared = compare_customers(customers, pq.read_table(predictions_file))

        _progress(f"{label}: Pareto/NBD fits (Patron, then lifetimes)")
        pareto = bench_patron_pareto(customers, repeat)
        peer_pareto: dict[str, Any] | None = None
        note = ""
        try:
            peer_pareto = call_peer(
                {**job, "mode": "pareto", "seed": PARETO_SEED, "budget": pareto_budget},
                timeout=pareto_budget + 120,
            )
            if len(peer_pareto["runs"]) < repeat:
                note = f"lifetimes: {len(peer_pareto['runs'])} run(s) only, to stay within"
                note += f" {pareto_budget:.0f} s"
        except TimeoutError as exc:
            note = f"not measured: {exc}"
    finally:
        if not keep:
            lines_file.unlink(missing_ok=True)
            predictions_file.unlink(missing_ok=True)

    _progress(f"{label}: DuckDB floor and Patron's analyses, {_runs(repeat)}")
    floor = bench_floor(facts_from_arrow(lines, returns), known, repeat)
    return build_report(name, path, patron, peer, pareto, peer_pareto, note, compared, floor)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=(*DATASETS, "all"), default="all")
    parser.add_argument(
        "--repeat", type=_positive, default=DEFAULT_REPEAT, help="runs per timing (best is kept)"
    )
    parser.add_argument(
        "--data", type=Path, default=SHARED_DATA, help=f"the real data (default {SHARED_DATA})"
    )
    parser.add_argument(
        "--pareto-budget",
        type=float,
        default=DEFAULT_PARETO_BUDGET,
        help="seconds lifetimes' Pareto/NBD fits may take per data set",
    )
    parser.add_argument(
        "--customers",
        type=_positive,
        default=DEFAULT_SYNTHETIC_CUSTOMERS,
        help="customers of the synthetic shop",
    )
    parser.add_argument("--keep", action="store_true", help="keep the files handed to lifetimes")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)

    names = list(DATASETS) if args.dataset == "all" else [args.dataset]
    if not args.data.is_dir() and args.dataset != "synthetic":
        message = (
            f"the real data folder {args.data} is absent: CDNOW and UCI Online Retail come from"
            " the shared data (../shared/data beside the project), or --data"
        )
        if args.dataset != "all":  # a real data set was asked for
            if args.json:
                print(json.dumps({"error": message}, indent=2))
            else:
                print(f"the CLV benchmark cannot run: {message}", file=sys.stderr)
            return 1
        _progress(f"{message}; running the synthetic shop only")
        names = ["synthetic"]
    machine = _machine()
    reports: list[DatasetReport] = []
    try:
        versions = ensure_peer()
        _progress(
            "peer: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + f" in {PEER_VENV}"
        )
        for name in names:
            reports.append(
                run_dataset(
                    name, args.data, args.repeat, args.pareto_budget, args.keep, args.customers
                )
            )
    except (BenchFailed, PatronError, TimeoutError) as exc:
        message = str(exc)
        if isinstance(exc, PatronError):
            message = f"Patron failed: [{exc.code}] {exc.message}"
        if args.json:
            print(json.dumps({"error": message}, indent=2))
        else:
            print(f"the CLV benchmark failed: {message}", file=sys.stderr)
        return 1
    if args.json:
        document = {
            "repeat": args.repeat,
            "figure": f"best of {_runs(args.repeat)}, each step's best on its own, in seconds",
            "machine": machine,
            "peer_versions": versions,
            "datasets": {report.name: asdict(report) for report in reports},
        }
        print(json.dumps(document, indent=2, default=str))
        return 0
    header = [
        f"CLV benchmark: Patron next to lifetimes {versions['lifetimes']}"
        f" (numpy {versions['numpy']}, pandas {versions['pandas']}, scipy {versions['scipy']},"
        f" Python {versions['python']}, own virtual environment)",
        f"  {machine['cpus']} cores, load average {machine['load_average']:.2f} at the start;"
        f" Patron on numpy {np.__version__}, DuckDB {duckdb.__version__}",
        "",
        "",
    ]
    print("\n".join(header) + "\n\n".join(render(report, args.repeat) for report in reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
