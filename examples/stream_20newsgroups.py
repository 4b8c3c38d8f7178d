"""Stream 20 Newsgroups from its archive into MultiTaskClassifier.partial_fit.

The posts are read one by one from ``20news-bydate.tar.gz`` (the tar stream is
never extracted, nor held in memory), hashed chunk by chunk with
``HashingVectorizer`` (no vocabulary to fit: each chunk is transformed alone)
and handed to ``partial_fit``. The tasks are the four pairs of the
``comp_vs_rec`` setting of :func:`skmtl.datasets.fetch_20newsgroups_multitask`
(``comp.graphics`` vs ``rec.autos`` ...), ``y = 1`` for the ``comp`` side.

The archive stores the posts newsgroup by newsgroup, so in archive order a
task sees all its positives long before its negatives. The Laplace rule of
``partial_fit`` depends on the order of the calls; the script reports the
archive order and a stream passed through a shuffle buffer of ``--buffer``
posts (the usual remedy, as ``tf.data``'s shuffle buffer), against ``fit`` on
all the training rows. The other remedy is several passes: the archive is read
again at each pass, and every chunk is named by its position (``batch_id``),
so that a chunk seen again replaces its earlier contribution; the passes
converge to ``fit``'s model whatever the order.

Run from the repository root::

    python examples/stream_20newsgroups.py [--archive PATH] [--chunk 500] [--passes 3]
"""

import argparse
import tarfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from skmtl import MultiTaskClassifier

ARCHIVE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
ARCHIVE = ARCHIVE / "20news-bydate.tar.gz"
#: comp_vs_rec: (positive, negative) newsgroups of each task
PAIRS = [
    ("comp.graphics", "rec.autos"),
    ("comp.os.ms-windows.misc", "rec.motorcycles"),
    ("comp.sys.ibm.pc.hardware", "rec.sport.baseball"),
    ("comp.sys.mac.hardware", "rec.sport.hockey"),
]
TASK_OF = {g: f"{pos}_vs_{neg}" for pos, neg in PAIRS for g in (pos, neg)}
POSITIVE = {pos for pos, _ in PAIRS}
HASHER = HashingVectorizer(n_features=2**18, alternate_sign=False, norm="l2")


def iter_posts(archive, split, per_group=None):
    """``(newsgroup, text)`` of the posts of ``split``, read from the tar stream.

    ``per_group`` keeps at most that many posts of each newsgroup (a quick run).
    """
    folder = f"20news-bydate-{split}"
    counts = dict.fromkeys(TASK_OF, 0)
    with tarfile.open(archive, mode="r|gz") as tar:  # streaming: no seeks
        for member in tar:
            parts = member.name.split("/")
            if not member.isreg() or len(parts) != 3 or parts[0] != folder:
                continue
            group = parts[1]
            if group in TASK_OF and (per_group is None or counts[group] < per_group):
                counts[group] += 1
                yield group, tar.extractfile(member).read().decode("latin-1")


def shuffled(posts, buffer, seed=0):
    """A shuffle buffer: hold ``buffer`` posts, emit one drawn at random."""
    rng = np.random.default_rng(seed)
    held = []
    for post in posts:
        held.append(post)
        if len(held) >= buffer:
            yield held.pop(rng.integers(len(held)))
    rng.shuffle(held)
    yield from held


def chunks(posts, size):
    """Hashed chunks ``(X, y, tasks)`` of ``size`` posts."""
    batch = []
    for post in posts:
        batch.append(post)
        if len(batch) == size:
            yield _hash(batch)
            batch = []
    if batch:
        yield _hash(batch)


def _hash(batch):
    groups, texts = zip(*batch)
    X = HASHER.transform(texts)
    y = np.array([int(g in POSITIVE) for g in groups])
    return X, y, np.array([TASK_OF[g] for g in groups])


def per_task_accuracy(model, X, y, tasks):
    pred = model.predict(X, tasks=tasks)
    return {t: float(np.mean(pred[tasks == t] == y[tasks == t])) for t in model.tasks_}


def main(archive=ARCHIVE, chunk=500, buffer=5000, alpha=1e-4, per_group=None,
         passes=3):  # fmt: skip
    """Stream, fit, and return ``{name: (per-task accuracy, seconds)}``."""
    [test] = chunks(iter_posts(archive, "test", per_group), 10**9)
    results, kept = {}, []
    model = MultiTaskClassifier(alpha=alpha, penalty="mean")
    start = time.perf_counter()
    for n_pass in range(1, passes + 1):
        posts = iter_posts(archive, "train", per_group)  # the archive read again
        for i, (X, y, tasks) in enumerate(chunks(posts, chunk)):
            model.partial_fit(X, y, tasks=tasks, classes=[0, 1], batch_id=i)
            if n_pass == 1:
                kept.append((X, y, tasks))  # for the reference fit only
        name = "stream, archive order" + (f", {n_pass} passes" if n_pass > 1 else "")
        results[name] = (per_task_accuracy(model, *test), time.perf_counter() - start)
    model = MultiTaskClassifier(alpha=alpha, penalty="mean")
    start = time.perf_counter()
    posts = shuffled(iter_posts(archive, "train", per_group), buffer)
    for X, y, tasks in chunks(posts, chunk):
        model.partial_fit(X, y, tasks=tasks, classes=[0, 1])
    results["stream, shuffle buffer"] = (
        per_task_accuracy(model, *test),
        time.perf_counter() - start,
    )
    # the reference: fit on every training row at once (in memory)
    X = sp.vstack([c[0] for c in kept])
    y, tasks = (
        np.concatenate([c[1] for c in kept]),
        np.concatenate([c[2] for c in kept]),
    )
    start = time.perf_counter()
    model = MultiTaskClassifier(alpha=alpha, penalty="mean").fit(X, y, tasks=tasks)
    results["fit on all rows"] = (
        per_task_accuracy(model, *test),
        time.perf_counter() - start,
    )
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archive", default=str(ARCHIVE))
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--buffer", type=int, default=5000)
    parser.add_argument("--alpha", type=float, default=1e-4)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    results = main(
        args.archive, args.chunk, args.buffer, args.alpha, passes=args.passes
    )
    tasks = list(next(iter(results.values()))[0])
    print(
        "| model | " + " | ".join(t.split("_vs_")[0] for t in tasks) + " | mean | s |"
    )
    print("|---" * (len(tasks) + 3) + "|")
    for name, (acc, seconds) in results.items():
        cells = " | ".join(f"{acc[t]:.3f}" for t in tasks)
        print(
            f"| {name} | {cells} | {np.mean(list(acc.values())):.3f} | {seconds:.1f} |"
        )
