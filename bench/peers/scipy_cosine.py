"""Exact item-item cosine and top-N with scipy, the single-machine peer of
the similarity pipeline.

It takes the pipeline's input flags, scores the same way (action weights
summed per (user, item) and clipped at the largest weight, or a numeric
score used as is), skips the rows the pipeline dead-letters, builds a sparse
user x item matrix, normalises its columns, computes A^T A sparse and keeps
each item's top N (score descending, ties by item id ascending, never the
item itself). It writes the pipeline's JSONL (one line per item with a
neighbour, items ascending) and prints its wall time.

    /usr/bin/python3 bench/peers/scipy_cosine.py --input=u.data --format=tsv \
        --header=false --user_field=0 --item_field=1 --score_field=2 \
        --top_n=10 --output=/tmp/scipy.jsonl
"""

import argparse
import csv
import json
import math
import sys
import time

import numpy as np
import scipy.sparse as sp


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", required=True)
    p.add_argument("--format", default="csv", choices=["csv", "tsv"])
    p.add_argument("--header", default="true", choices=["true", "false"])
    p.add_argument("--user_field", default="user")
    p.add_argument("--item_field", default="productSku")
    p.add_argument("--action_field", default="")
    p.add_argument("--weights", default="1:0.5,2:2,3:6")
    p.add_argument("--score_field", default="")
    p.add_argument("--top_n", type=int, default=20)
    p.add_argument("--output", required=True)
    return p.parse_args(argv)


def column(field, header):
    """Resolves a field flag: a header name or a 0-based index."""
    if header is not None and field in [h.strip() for h in header]:
        return [h.strip() for h in header].index(field)
    return int(field)


def read_scores(a):
    """Returns (users, items, values) of the summed (user, item) scores."""
    weights = None
    if not a.score_field:
        weights = {}
        for part in a.weights.split(","):
            k, v = part.split(":")
            weights[k.strip()] = float(v)
    with open(a.input, newline="", encoding="utf-8") as f:
        if a.format == "csv":
            rows = csv.reader(f)
        else:
            rows = (line.rstrip("\r\n").split("\t") for line in f)
        header = next(rows) if a.header == "true" else None
        if header is not None:
            header[0] = header[0].lstrip("\ufeff")
        u_col = column(a.user_field, header)
        i_col = column(a.item_field, header)
        v_col = column(a.score_field or a.action_field or "type", header)
        width = len(header) if header is not None else 0
        need = max(u_col, i_col, v_col) + 1
        scores = {}
        for rec in rows:
            if (width and len(rec) != width) or len(rec) < need:
                continue  # the pipeline's field_count dead letter
            user, item = rec[u_col].strip(), rec[i_col].strip()
            if not user or not item:
                continue
            value = rec[v_col].strip()
            if weights is not None:
                if value not in weights:
                    continue
                w = weights[value]
            else:
                try:
                    w = float(value)
                except ValueError:
                    continue
                if not math.isfinite(w) or w < 0:
                    continue
            key = (user, item)
            scores[key] = scores.get(key, 0.0) + w
    clip = max(weights.values()) if weights else 0.0
    users, items, values = [], [], []
    for (u, i), s in scores.items():
        if clip > 0 and s > clip:
            s = clip
        if s > 0:
            users.append(u)
            items.append(i)
            values.append(s)
    return users, items, np.array(values)


def top_n(sim, names, n):
    """Yields (item, [(neighbour, score)]) for every item with a neighbour."""
    sim = sim.tocsr()
    sim.setdiag(0)
    sim.eliminate_zeros()
    for i in range(sim.shape[0]):
        lo, hi = sim.indptr[i], sim.indptr[i + 1]
        if lo == hi:
            continue
        cols, vals = sim.indices[lo:hi], sim.data[lo:hi]
        keep = vals > 0
        cols, vals = cols[keep], vals[keep]
        if len(vals) == 0:
            continue
        if len(vals) > n:
            # Everything tied with the n-th best stays in, then ties go by id.
            kth = np.partition(vals, len(vals) - n)[len(vals) - n]
            sel = vals >= kth
            cols, vals = cols[sel], vals[sel]
        order = np.lexsort((cols, -vals))[:n]
        yield names[i], [(names[cols[k]], float(vals[k])) for k in order]


def main(argv):
    a = parse_args(argv)
    start = time.perf_counter()
    users, items, values = read_scores(a)
    user_names, u_idx = np.unique(np.array(users), return_inverse=True)
    # Item codes in id order, so ties broken by code are broken by id.
    item_names, i_idx = np.unique(np.array(items), return_inverse=True)
    m = sp.csc_matrix((values, (u_idx, i_idx)), shape=(len(user_names), len(item_names)))
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0)).ravel())
    m = m @ sp.diags(1.0 / norms)
    sim = (m.T @ m).tocsr()
    lines = 0
    with open(a.output, "w", encoding="utf-8") as out:
        for item, neighbors in top_n(sim, item_names, a.top_n):
            out.write(json.dumps({"item": str(item), "neighbors": [
                {"item": str(j), "score": s} for j, s in neighbors]}, separators=(",", ":")))
            out.write("\n")
            lines += 1
    print(f"items: {lines}")
    print(f"wall time: {time.perf_counter() - start:.3f}s")


if __name__ == "__main__":
    main(sys.argv[1:])
