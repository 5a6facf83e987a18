#!/usr/bin/python3
"""The peer for `make bench-index`: hnswlib (Debian's python3-hnswlib) on the same vectors, queries and ground truth the
.NET benchmark wrote, with the same M / ef_construction / ef, one search thread. Prints one JSON line."""
import json
import sys
import time

import numpy as np
import hnswlib

sweep = sys.argv[1] == "--sweep"
if sweep:  # --sweep prefix: the index saved by an earlier run, one round per ef read from standard input
    prefix = sys.argv[2]
else:
    prefix, m, ef_construction, ef, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
meta = json.load(open(prefix + ".json"))
n, d, k = meta["points"], meta["dimension"], meta["k"]
queries = np.fromfile(prefix + ".queries.f32", dtype=np.float32).reshape(-1, d)
truth = np.fromfile(prefix + ".truth.i32", dtype=np.int32).reshape(len(queries), k)


def one_round(index):
    """One timed pass over the queries: (queries/s, recall@k)."""
    found = 0
    started = time.perf_counter()
    for i, q in enumerate(queries):
        labels, _ = index.knn_query(q.reshape(1, -1), k=k)
        found += len(set(labels[0].tolist()) & set(truth[i].tolist()))
    return len(queries) / (time.perf_counter() - started), found / (k * len(queries))


def warm_up(index):
    for q in queries[:50]:
        index.knn_query(q.reshape(1, -1), k=k)


def measure(index):
    """Queries/s of one thread (the median of three rounds after a warm-up) and recall@k."""
    warm_up(index)
    rounds = [one_round(index) for _ in range(3)]
    return sorted(r[0] for r in rounds)[1], rounds[-1][1]


if sweep:
    # Loads the saved index, says "ready", then answers each line "ef" on standard input with one timed round at that
    # ef (the caller interleaves these with its own rounds, so both see the same machine).
    index = hnswlib.Index(space="cosine", dim=d)
    index.load_index(prefix + ".hnswlib", max_elements=n)
    index.set_num_threads(1)
    warm_up(index)
    print("ready", flush=True)
    for line in sys.stdin:
        ef = int(line)
        index.set_ef(ef)
        qps, recall = one_round(index)
        print(json.dumps({"ef": ef, "qps": qps, "recall": recall}), flush=True)
    sys.exit(0)

data = np.fromfile(prefix + ".data.f32", dtype=np.float32).reshape(n, d)


def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


rss_before = rss_mb()
index = hnswlib.Index(space="cosine", dim=d)
index.init_index(max_elements=n, ef_construction=ef_construction, M=m)
index.set_num_threads(threads)
started = time.perf_counter()
index.add_items(data, np.arange(n))
build = time.perf_counter() - started
index_mb = rss_mb() - rss_before  # the graph with its own float32 copy of the vectors
del data
index.save_index(prefix + ".hnswlib")  # for `--sweep`
index.set_ef(ef)
index.set_num_threads(1)
qps, recall = measure(index)
print(json.dumps({
    "build_seconds": build,
    "qps": qps,
    "recall": recall,
    "index_mb": index_mb,
}))
