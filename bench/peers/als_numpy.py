"""Alternating least squares in one process with numpy: the peer of the ALS
pipeline (transforms/als) and of its Go reference (model/als.Train), doing
the same math as a user who wants speed would write it.

Explicit mode is ALS-WR: each row solves (sum y y^T + lambda*n I) x =
sum r y over its n ratings. Implicit mode is Hu, Koren & Volinsky's: with
confidence c = 1 + alpha*r and preference 1 on every rated pair, each row
solves (Y^T Y + sum (c-1) y y^T + lambda I) x = sum c y, Y^T Y computed
once per half-step over all of the other side's factors. Every iteration
solves the users from the items, then the items from the users.

Vectorised as follows (no Python loop over rows): the rows of each side
are sorted by rating count once, before the timed iterations, and cut
into chunks of at most a few thousand rows; within a chunk the rows that
share a rating count n gather their n factors into one (m, n, k) array,
so that one batched matmul builds all their k x k systems and another
their right-hand sides. Each chunk's systems are then factorised by one
batched np.linalg.cholesky (LAPACK potrf per matrix, in C) and solved by
forward and back substitution vectorised over the chunk (k steps each),
since numpy 1.24 and scipy 1.10 have no batched triangular solve.

Input: a ratings file, one (user, item, score) per line, no header, tab-
or comma-separated, at most one line per (user, item); ids are sorted as
Go sorts strings (byte order of UTF-8 = code point order). The items'
starting factors come from --init (the harness writes them with
model/als.InitFactor): raw little-endian float64, one row of --rank numbers
per item in id order. The users' start is never read (the first half-step
solves them).

It prints one line per iteration, "iteration I: wall W cpu C" (seconds;
CPU is this process's, every thread), "seconds per iteration: S" (the
median wall time of the iterations after the first), "objective: V" (the
function the mode minimises, at the final factors) and, when threadpoolctl
is installed, "blas: ..." (the BLAS numpy runs).

    /usr/bin/python3 bench/peers/als_numpy.py --ratings=r.tsv --init=init.f64 \\
        --rank=32 --implicit --alpha=2 --lambda=0.1 --iterations=10
"""

import argparse
import sys
import time

import numpy as np
import pandas as pd

# A chunk's arrays (gathered factors, systems) stay under about this many
# float64s (64 MiB), whatever the rank.
BUDGET = 1 << 23


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ratings", required=True)
    p.add_argument("--format", default="tsv", choices=["csv", "tsv"])
    p.add_argument("--init", required=True, help="the items' starting factors (see above)")
    p.add_argument("--rank", type=int, required=True)
    p.add_argument("--lambda", dest="lam", type=float, default=0.1)
    p.add_argument("--implicit", action="store_true")
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--factors_output", default="",
                   help="write the final factors here: lines 'user|item<TAB>id<TAB>x1 x2 ...' (repr floats)")
    a = p.parse_args(argv)
    if a.rank < 1 or a.iterations < 1 or a.lam < 0 or a.alpha < 0:
        p.error("want --rank >= 1, --iterations >= 1, --lambda >= 0 and --alpha >= 0")
    return a


def read_ratings(a):
    """Returns (user codes, item codes, scores, user ids, item ids), codes
    in sorted-id order."""
    df = pd.read_csv(a.ratings, sep="\t" if a.format == "tsv" else ",", header=None, names=["u", "i", "r"],
                     dtype={"u": str, "i": str, "r": np.float64}, keep_default_na=False, engine="c",
                     quoting=3 if a.format == "tsv" else 0)
    u, users = pd.factorize(df["u"], sort=True)
    i, items = pd.factorize(df["i"], sort=True)
    r = df["r"].to_numpy(np.float64)
    if len(r) == 0:
        sys.exit("als_numpy: no ratings")
    if not np.all(np.isfinite(r)) or (a.implicit and np.any(r <= 0)):
        sys.exit("als_numpy: want finite scores (> 0 when implicit)")
    key = u.astype(np.int64) * len(items) + i
    if len(np.unique(key)) != len(key):
        sys.exit("als_numpy: a (user, item) pair occurs twice: aggregate each pair first")
    return u.astype(np.int64), i.astype(np.int64), r, np.asarray(users, dtype=object), np.asarray(items, dtype=object)


class Side:
    """One side's rows (users or items) as chunks of rows sorted by rating
    count: each chunk is (rows, groups), each group (start, end, cols,
    vals) the chunk's rows start:end, all with len(cols[j]) ratings."""

    def __init__(self, rows, cols, vals, n, rank):
        order = np.lexsort((cols, rows))
        rows, cols, vals = rows[order], cols[order], vals[order]
        counts = np.bincount(rows, minlength=n)
        start = np.concatenate(([0], np.cumsum(counts)))
        by_count = np.argsort(counts, kind="stable")
        by_count = by_count[counts[by_count] > 0]
        max_rows = max(1, BUDGET // (rank * rank))
        self.chunks = []
        pos = 0
        while pos < len(by_count):
            # Rows from pos on, as many as fit the budget (at least one).
            end, entries = pos, 0
            while end < len(by_count) and end - pos < max_rows:
                c = counts[by_count[end]]
                if end > pos and (entries + c) * rank > BUDGET:
                    break
                entries += c
                end += 1
            rows_c = by_count[pos:end]
            groups = []
            cs = counts[rows_c]
            bounds = np.flatnonzero(np.diff(cs)) + 1
            for s, e in zip(np.concatenate(([0], bounds)), np.concatenate((bounds, [len(rows_c)]))):
                # Entry positions of these rows, one row per line.
                idx = start[rows_c[s:e]][:, None] + np.arange(cs[s])[None, :]
                groups.append((s, e, cols[idx], vals[idx]))
            self.chunks.append((rows_c, groups))
            pos = end


def cholesky_solve(a, b):
    """Solves every a[j] x[j] = b[j] (a symmetric positive definite):
    batched Cholesky, then substitution vectorised over the batch."""
    L = np.linalg.cholesky(a)
    k = b.shape[1]
    z = np.empty_like(b)
    for i in range(k):
        z[:, i] = (b[:, i] - np.einsum("bj,bj->b", L[:, i, :i], z[:, :i])) / L[:, i, i]
    x = np.empty_like(b)
    for i in range(k - 1, -1, -1):
        x[:, i] = (z[:, i] - np.einsum("bj,bj->b", L[:, i + 1:, i], x[:, i + 1:])) / L[:, i, i]
    return x


def half_step(side, other, out, a):
    """Solves every row of side from the other side's factors into out."""
    k = other.shape[1]
    if a.implicit:
        base = other.T @ other + a.lam * np.eye(k)
    for rows, groups in side.chunks:
        A = np.empty((len(rows), k, k))
        b = np.empty((len(rows), k))
        for s, e, cols, vals in groups:
            Y = other[cols]  # (m, n, k)
            if a.implicit:
                w, v = a.alpha * vals, 1 + a.alpha * vals  # c - 1 and c
            else:
                w, v = None, vals
            Yt = Y.transpose(0, 2, 1)
            A[s:e] = np.matmul(Yt * w[:, None, :], Y) if w is not None else np.matmul(Yt, Y)
            b[s:e] = np.matmul(Yt, v[:, :, None])[:, :, 0]
            if not a.implicit:
                # ALS-WR: lambda times the row's rating count.
                A[s:e].reshape(e - s, k * k)[:, ::k + 1] += a.lam * cols.shape[1]
        if a.implicit:
            A += base
        out[rows] = cholesky_solve(A, b)


def objective(X, Y, u, i, r, a):
    """The function the mode minimises. Explicit: sum over ratings of
    (r - x.y)^2 + lambda (sum_u n_u |x_u|^2 + sum_i n_i |y_i|^2). Implicit:
    sum over every (user, item) of c (p - x.y)^2 + lambda (|X|^2 + |Y|^2),
    the unrated pairs' part as sum_u x_u^T (Y^T Y) x_u."""
    step = 1 << 20
    s = np.empty(len(r))
    for o in range(0, len(r), step):
        s[o:o + step] = np.einsum("nk,nk->n", X[u[o:o + step]], Y[i[o:o + step]])
    if a.implicit:
        c = 1 + a.alpha * r
        loss = np.sum((X @ (Y.T @ Y)) * X) + np.sum(c * (1 - s) ** 2 - s * s)
        return loss + a.lam * (np.sum(X * X) + np.sum(Y * Y))
    nu = np.bincount(u, minlength=len(X))
    ni = np.bincount(i, minlength=len(Y))
    return np.sum((r - s) ** 2) + a.lam * (nu @ np.sum(X * X, axis=1) + ni @ np.sum(Y * Y, axis=1))


def blas():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ""
    return "; ".join(f"{p.get('internal_api')} {p.get('version')} {p.get('architecture')} {p.get('num_threads')} threads"
                     for p in threadpool_info() if p.get("user_api") == "blas")


def main(argv):
    a = parse_args(argv)
    u, i, r, users, items = read_ratings(a)
    Y = np.fromfile(a.init, dtype="<f8")
    if Y.size != len(items) * a.rank:
        sys.exit(f"als_numpy: {a.init} holds {Y.size} numbers, want {len(items)} items x rank {a.rank}")
    Y = Y.reshape(len(items), a.rank).astype(np.float64)
    X = np.zeros((len(users), a.rank))
    by_user = Side(u, i, r, len(users), a.rank)
    by_item = Side(i, u, r, len(items), a.rank)
    walls = []
    for it in range(1, a.iterations + 1):
        w0, c0 = time.perf_counter(), time.process_time()
        half_step(by_user, Y, X, a)
        half_step(by_item, X, Y, a)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        walls.append(wall)
        print(f"iteration {it}: wall {wall:.6f} cpu {cpu:.6f}", flush=True)
    print(f"seconds per iteration: {np.median(walls[1:] if len(walls) > 1 else walls):.6f}")
    print(f"objective: {objective(X, Y, u, i, r, a)!r}")
    if (b := blas()):
        print(f"blas: {b}")
    if a.factors_output:
        with open(a.factors_output, "w") as f:
            for side, ids, F in (("user", users, X), ("item", items, Y)):
                for id_, x in zip(ids, F):
                    f.write(f"{side}\t{id_}\t{' '.join(repr(float(v)) for v in x)}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
