"""One recommender's run for bench/recommend_bench.py, in a process of its own.

Usage (the bench starts it; nobody needs to by hand)::

    python bench/recommend_worker.py '{"method": "patron", "baskets": "...npz", ...}'

``method`` is ``patron`` (run with the project's interpreter), ``implicit`` or ``mlxtend``
(run with the peers' virtual environment, ``bench/.peers/recommend``), or ``versions``. The
worker imports what the method needs, loads the baskets from the ``.npz`` file the bench wrote
(parallel arrays of integer codes: one row per (basket, product) pair), and only then starts
measuring: the wall-clock seconds of each step, the CPU seconds of the process, and its peak
resident memory above what it held before the method started (``/proc/self/status``: VmHWM
reset through ``/proc/self/clear_refs`` just before, minus VmRSS then; where the reset is not
allowed, the growth of ``getrusage``'s ru_maxrss). Imports and loading are therefore not
counted. It also reports the share of the machine's CPU time that other processes took
meanwhile (``/proc/stat``, less its own CPU time). It prints one JSON document on stdout.

Two modes: ``speed`` fits on every basket and makes the top 10 of every customer;
``accuracy`` fits on the baskets in the file (the bench's training history) and writes the
lists of the customers in the file's ``targets`` to ``lists`` (an ``.npz`` with ``overall``
and ``new``: customers × 10 product codes, -1 padded), which the bench scores.

This file imports only numpy and scipy at the top, because it runs in two environments:
Patron, implicit and mlxtend are imported by ``_import_for`` before anything is measured.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

K = 10
MODULES = {
    "patron": ("patron.recommend.baskets", "patron.recommend.catalogue", "patron.recommend.model"),
    "implicit": ("implicit.als", "threadpoolctl"),
    "mlxtend": ("pandas", "mlxtend.frequent_patterns"),
}

Lap = Callable[[str], None]
Method = Callable[[dict[str, Any], dict[str, Any], Lap], dict[str, Any]]


# --- measuring ------------------------------------------------------------------------------


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def _machine_busy() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / tick, sum(fields[:8]) / tick


def _peak_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux


class Memory:
    """Peak resident memory above the level at ``start``, in MB."""

    def start(self) -> None:
        gc.collect()
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to VmRSS
            self.how = "VmHWM after - VmRSS before (peak reset through /proc/self/clear_refs)"
            self.base = _status_kb("VmRSS")
        except OSError:
            self.how = "ru_maxrss after - ru_maxrss before (growth of the high-water mark)"
            self.base = _peak_kb()
        self.base_total = _status_kb("VmRSS")

    def growth_mb(self) -> float:
        peak = _status_kb("VmHWM") if self.how.startswith("VmHWM") else _peak_kb()
        return max(peak - self.base, 0) / 1024


def measure(method: Method, job: dict[str, Any]) -> dict[str, Any]:
    """Run ``method`` on the baskets, timing each step it names through ``lap``."""
    for name in MODULES[job["method"]]:
        importlib.import_module(name)
    with np.load(job["baskets"], allow_pickle=False) as file:
        data = {name: file[name] for name in file.files}
    memory = Memory()
    memory.start()
    seconds: dict[str, float] = {}
    busy, every = _machine_busy()
    cpu = time.process_time()
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] = seconds.get(step, 0.0) + now - clock
        clock = now

    found = method(data, job, lap)
    cpu = time.process_time() - cpu
    busy_after, every_after = _machine_busy()
    others = max(busy_after - busy - cpu, 0.0) / max(every_after - every, 1e-9)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "others_cpu_share": others,
        "peak_mb": memory.growth_mb(),
        "rss_before_mb": memory.base_total / 1024,
        "memory_measure": memory.how,
        **found,
    }


# --- the methods ----------------------------------------------------------------------------


def run_patron(data: dict[str, Any], job: dict[str, Any], lap: Lap) -> dict[str, Any]:
    """Recommender().fit(baskets, plain(products)), then recommend() for every customer as of
    the day after the last basket, explained."""
    from patron.recommend.baskets import Baskets
    from patron.recommend.catalogue import plain
    from patron.recommend.model import Recommender

    baskets = Baskets(
        data["customer"],
        data["product"],
        data["basket"],
        data["time"],
        data["customers"].astype(object),
        data["products"].astype(object),
    )
    model = Recommender().fit(baskets, plain(baskets.products))
    lap("fit")
    customers = np.arange(baskets.n_customers, dtype=np.int64)
    now = np.full(len(customers), np.floor(baskets.time.max()) + 1.0)
    top = model.recommend(baskets, customers, now, k=K, explain=True)
    lap("top-10")
    lengths = np.array([len(top[c]) for c in customers.tolist()])
    return {"lists": _fill(lengths)}


def run_implicit(data: dict[str, Any], job: dict[str, Any], lap: Lap) -> dict[str, Any]:
    """implicit's ALS on the customers × products matrix of basket counts; its batch
    recommend() for every customer, re-buys allowed (filter_already_liked_items=False)."""
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    items = _customer_products(data).astype(np.float32)
    lap("input")
    # implicit asks for a single-threaded BLAS (it warns otherwise): its own threads, as many
    # as there are cores (num_threads=0, the default), do the work.
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=job["factors"],
            iterations=job["iterations"],
            random_state=job["random_state"],
            use_gpu=False,
        )
        model.fit(items, show_progress=False)
        lap("fit")
        users = _targets(data, items.shape[0])
        overall = _als_lists(model, users, items, new_only=False)
        lap("top-10")
        if job["mode"] == "accuracy":
            _save(job, overall=overall, new=_als_lists(model, users, items, new_only=True))
    return {"lists": _fill((overall >= 0).sum(axis=1)), "num_threads": model.num_threads}


def _als_lists(
    model: Any, users: np.ndarray, items: sp.csr_matrix, *, new_only: bool
) -> np.ndarray:
    """implicit's batch recommend(); a place it could not fill (score -inf) becomes -1."""
    ids, scores = model.recommend(users, items[users], N=K, filter_already_liked_items=new_only)
    return np.where(np.isfinite(scores), ids, -1)


def run_mlxtend(data: dict[str, Any], job: dict[str, Any], lap: Lap) -> dict[str, Any]:
    """mlxtend's fpgrowth on the baskets × products one-hot DataFrame, association_rules by
    confidence, then each customer's top 10: the consequents of the rules whose antecedents the
    customer has all bought, ranked by confidence (nothing else fills a short list)."""
    import pandas as pd
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    n_products = len(data["products"])
    _, basket = np.unique(data["basket"], return_inverse=True)
    onehot = np.zeros((int(basket.max()) + 1, n_products), dtype=bool)
    onehot[basket, data["product"]] = True
    frame = pd.DataFrame(onehot, columns=np.arange(n_products))  # column = product code
    lap("input")
    itemsets = fpgrowth(frame, min_support=job["min_support"], use_colnames=True)
    lap("fit")
    rules = association_rules(
        itemsets, len(frame), metric="confidence", min_threshold=job["min_confidence"]
    )
    lap("rules")
    owned = _customer_products(data) > 0
    users = _targets(data, owned.shape[0])
    overall = rule_lists(rules, owned, users, n_products, new_only=False)
    lap("top-10")
    if job["mode"] == "accuracy":
        _save(job, overall=overall, new=rule_lists(rules, owned, users, n_products, new_only=True))
    return {
        "lists": _fill((overall >= 0).sum(axis=1)),
        "itemsets": len(itemsets),
        "rules": len(rules),
        "largest_itemset": int(itemsets["itemsets"].map(len).max()) if len(itemsets) else 0,
    }


def rule_lists(
    rules: Any, owned: sp.csr_matrix, users: np.ndarray, n_products: int, *, new_only: bool
) -> np.ndarray:
    """users × K product codes (-1 padded): the consequents of every rule that applies to the
    user (all its antecedents bought), best confidence first, ties by product code."""
    antecedents = _item_matrix(rules["antecedents"], n_products)
    consequents = _item_matrix(rules["consequents"], n_products)
    confidence = rules["confidence"].to_numpy(dtype=np.float64)
    mine = owned[users].astype(np.int32)
    matched = (mine @ antecedents.T.astype(np.int32)).tocoo()  # users × rules: items owned
    applies = matched.data == np.diff(antecedents.indptr)[matched.col]
    user, rule = matched.row[applies], matched.col[applies]
    picked = consequents[rule]  # one row per (user, rule), its consequents
    user = np.repeat(user, np.diff(picked.indptr))
    product = picked.indices.astype(np.int64)
    score = np.repeat(confidence[rule], np.diff(picked.indptr))
    if new_only:
        bought = mine.tocoo()
        fresh = ~np.isin(user * n_products + product, bought.row * n_products + bought.col)
        user, product, score = user[fresh], product[fresh], score[fresh]
    return top_k(user, product, score, len(users))


def top_k(user: np.ndarray, product: np.ndarray, score: np.ndarray, n_users: int) -> np.ndarray:
    """Each user's K best distinct products (a product's best score counts), -1 padded."""
    order = np.lexsort((-score, product, user))
    user, product, score = user[order], product[order], score[order]
    first = np.r_[True, (user[1:] != user[:-1]) | (product[1:] != product[:-1])]
    user, product, score = user[first], product[first], score[first]
    order = np.lexsort((product, -score, user))
    user, product = user[order], product[order]
    rank = np.arange(len(user)) - np.searchsorted(user, user, side="left")
    keep = rank < K
    out = np.full((n_users, K), -1, dtype=np.int64)
    out[user[keep], rank[keep]] = product[keep]
    return out


# --- helpers --------------------------------------------------------------------------------


def _customer_products(data: dict[str, Any]) -> sp.csr_matrix:
    """customers × products: in how many baskets each customer bought each product."""
    shape = (len(data["customers"]), len(data["products"]))
    ones = np.ones(len(data["customer"]), dtype=np.int32)
    matrix = sp.csr_matrix((ones, (data["customer"], data["product"])), shape=shape)
    matrix.sum_duplicates()
    return matrix


def _item_matrix(itemsets: Any, n_products: int) -> sp.csr_matrix:
    """rules × products, 1 where the product is in the rule's itemset."""
    sets = [sorted(int(item) for item in items) for items in itemsets]
    indptr = np.cumsum([0, *(len(items) for items in sets)])
    indices = np.fromiter((item for items in sets for item in items), dtype=np.int64)
    ones = np.ones(len(indices), dtype=np.int32)
    return sp.csr_matrix((ones, indices, indptr), shape=(len(sets), n_products))


def _targets(data: dict[str, Any], n_customers: int) -> np.ndarray:
    """The customers to recommend to: the file's ``targets``, else every customer."""
    if "targets" in data:
        return data["targets"].astype(np.int64)
    return np.arange(n_customers, dtype=np.int64)


def _fill(lengths: np.ndarray) -> dict[str, Any]:
    return {
        "customers": len(lengths),
        "full": int((lengths >= K).sum()),
        "empty": int((lengths == 0).sum()),
        "mean_length": float(lengths.mean()) if len(lengths) else 0.0,
    }


def _save(job: dict[str, Any], **lists: np.ndarray) -> None:
    np.savez(job["lists"], **{part: np.asarray(top, dtype=np.int64) for part, top in lists.items()})


def versions() -> dict[str, str]:
    names = ("implicit", "mlxtend", "numpy", "scipy", "pandas", "threadpoolctl")
    found = {name: version(name) for name in names}
    found["python"] = sys.version.split()[0]
    return found


METHODS = {"patron": run_patron, "implicit": run_implicit, "mlxtend": run_mlxtend}

if __name__ == "__main__":
    job = json.loads(sys.argv[1])
    result = versions() if job["method"] == "versions" else measure(METHODS[job["method"]], job)
    print(json.dumps(result))
