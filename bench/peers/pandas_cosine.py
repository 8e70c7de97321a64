"""Exact item-item cosine and top-N, vectorised: the strongest single-machine
peer of the similarity pipeline that a user who wants speed would write.

pandas' C CSV parser reads the needed columns, the action column maps
through the weights (or a numeric score is used as is), a groupby on the
(user, item) codes sums the weights, the sums are clipped at the largest
weight (no clip for a score field), scipy.sparse builds the user x item
matrix, normalises its columns and computes A^T A, and np.argpartition
keeps each item's top N (score descending, ties by item id ascending, never
the item itself). No Python loop touches a row of the input. It writes the
pipeline's JSONL (one line per item with a neighbour, items ascending) and
prints its wall time and the BLAS kernel numpy runs (threadpoolctl).

    /usr/bin/python3 bench/peers/pandas_cosine.py --input=u.data --format=tsv \
        --header=false --user_field=0 --item_field=1 --score_field=2 \
        --top_n=10 --output=/tmp/pandas.jsonl

Rows skipped as the pipeline dead-letters them: more fields than the
header (the C parser's on_bad_lines="skip"), an empty user or item or
value, an unknown action, a non-numeric, non-finite or negative score.
Unlike the pipeline it does not trim spaces around fields nor notice a row
with too few fields whose needed columns are all present.
"""

import argparse
import sys
import time

import numpy as np
import pandas as pd
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


def field(name, header):
    """A field flag: a header name, else a 0-based index."""
    if header is not None and name in header:
        return name
    i = int(name)
    return header[i] if header is not None else i


def read_scores(a):
    """Returns (user codes, item codes, item names, summed clipped scores)."""
    sep = "," if a.format == "csv" else "\t"
    header = None
    if a.header == "true":
        with open(a.input, encoding="utf-8-sig") as f:
            header = [h.strip() for h in f.readline().rstrip("\r\n").split(sep)]
    u_col, i_col = field(a.user_field, header), field(a.item_field, header)
    v_col = field(a.score_field or a.action_field or "type", header)
    cols = [u_col, i_col, v_col]
    df = pd.read_csv(
        a.input, sep=sep, engine="c", header=0 if header is not None else None,
        names=header, usecols=cols, dtype=str, keep_default_na=False, na_values=[""],
        on_bad_lines="skip", quoting=3 if a.format == "tsv" else 0, encoding="utf-8-sig")
    if a.score_field:
        w = pd.to_numeric(df[v_col], errors="coerce").to_numpy(np.float64)
        clip = 0.0
    else:
        weights = {}
        for part in a.weights.split(","):
            k, v = part.split(":")
            weights[k.strip()] = float(v)
        w = df[v_col].map(weights).to_numpy(np.float64)
        clip = max(weights.values())
    ok = np.isfinite(w) & (w >= 0) & df[u_col].notna().to_numpy() & df[i_col].notna().to_numpy()
    if not ok.all():
        df, w = df[ok], w[ok]
    users, _ = pd.factorize(df[u_col])
    # Item codes in id order, so ties broken by code are broken by id.
    items, item_names = pd.factorize(df[i_col], sort=True)
    n_items = len(item_names)
    key = users.astype(np.int64) * n_items + items
    summed = pd.Series(w).groupby(key, sort=False).sum()
    s = summed.to_numpy()
    if clip > 0:
        np.minimum(s, clip, out=s)
    k = summed.index.to_numpy()
    keep = s > 0
    return k[keep] // n_items, k[keep] % n_items, np.asarray(item_names, dtype=object), s[keep]


def top_n(sim, n):
    """Yields (item code, neighbour codes, scores) for every item with a
    neighbour: sim is CSR, symmetric, with its diagonal."""
    rows = np.repeat(np.arange(sim.shape[0]), np.diff(sim.indptr))
    keep = (sim.indices != rows) & (sim.data > 0)
    indptr = np.concatenate(([0], np.cumsum(np.bincount(rows[keep], minlength=sim.shape[0]))))
    cols, vals = sim.indices[keep], sim.data[keep]
    for i in np.flatnonzero(np.diff(indptr)):
        c, v = cols[indptr[i]:indptr[i + 1]], vals[indptr[i]:indptr[i + 1]]
        if len(v) > n:
            # Everything tied with the n-th best stays in, then ties go by id.
            part = np.argpartition(-v, n - 1)
            kth = v[part[n - 1]]
            sel = v >= kth
            c, v = c[sel], v[sel]
        order = np.lexsort((c, -v))[:n]
        yield i, c[order], v[order]


def main(argv):
    a = parse_args(argv)
    start = time.perf_counter()
    u, i, names, s = read_scores(a)
    m = sp.csc_matrix((s, (u, i)), shape=(int(u.max()) + 1 if len(u) else 0, len(names)))
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0)).ravel())
    m = m @ sp.diags(1.0 / norms)
    sim = (m.T @ m).tocsr()
    lines = 0
    with open(a.output, "w", encoding="utf-8") as out:
        for item, cols, vals in top_n(sim, a.top_n):
            neigh = ",".join('{"item":%s,"score":%r}' % (quote(names[j]), float(x)) for j, x in zip(cols, vals))
            out.write('{"item":%s,"neighbors":[%s]}\n' % (quote(names[item]), neigh))
            lines += 1
    print(f"items: {lines}")
    print(f"blas: {blas()}")
    print(f"wall time: {time.perf_counter() - start:.3f}s")


def quote(s):
    """A JSON string (ids are mostly plain: escape only when needed)."""
    s = str(s)
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return '"' + s + '"'
    import json
    return json.dumps(s)


def blas():
    """The BLAS numpy runs and its kernel (threadpoolctl), or why unknown."""
    try:
        import threadpoolctl
    except ImportError:
        return "unknown (python3-threadpoolctl absent)"
    info = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
    return "; ".join(f"{p.get('internal_api')} {p.get('version')} {p.get('architecture')} "
                     f"{p.get('num_threads')} threads" for p in info) or "none loaded"


if __name__ == "__main__":
    main(sys.argv[1:])
