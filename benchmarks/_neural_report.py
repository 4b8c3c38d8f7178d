"""The markdown report of ``bench_neural.py`` (its section 1-3 tables)."""

import numpy as np
from _common import machine
from _neural_settings import BASELINE, BATCH, GPU_GOAL, HIDDEN, SPEED_GOAL

try:
    import torch
except ImportError:  # pragma: no cover - torch is the "torch" extra
    torch = None


def _machine():
    torch_v = "-" if torch is None else (
        f"{torch.__version__} ({torch.get_num_threads()} threads"
        + (f", CUDA {torch.cuda.get_device_name(0)}" if torch.cuda.is_available()
           else ", no CUDA") + ")")  # fmt: skip
    return machine(user_apis=("blas", "openmp"), torch=torch_v)


def _short(label):
    # "comp.graphics_vs_rec.autos" -> "graphics/autos"
    parts = str(label).split("_vs_")
    return "/".join(p.split(".")[-1] if "." in p else p for p in parts)


def _accuracy_section(key, res):
    meta = res["_meta"]
    names = [n for n in res if n != "_meta"]
    labels = meta["labels"]
    per_task_cols = len(labels) <= 6
    lines = [f"### {key}", ""]
    lines.append(
        f"{len(meta['draws'])} draw(s) (seeds {', '.join(map(str, meta['draws']))}); "
        f"networks and MLPs at most {meta['epochs']} epochs. Accuracy per task "
        "(mean over draws), its mean over tasks (+- sd over draws) and the worst "
        "task; *neg. transfer*: share of (task, draw) pairs where the model is "
        "below the independent model of its family (`per_task_report` "
        "`negative_transfer` against `linear independent` for the linear models, "
        "`MLP per task` for the networks). Wall time of the cell: "
        f"{meta['seconds']:.0f} s."
    )
    lines.append("")
    cols = ["model", "mean acc."]
    if per_task_cols:
        cols += [_short(t) for t in labels]
    cols += ["worst task", "neg. transfer", "fit s", "conv. warn."]
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    means = {n: res[n]["acc"].mean() for n in names}
    best = max(means.values())
    for n in names:
        e = res[n]
        per_draw = e["acc"].mean(axis=1)
        cell = f"{per_draw.mean():.3f} +- {per_draw.std():.3f}"
        if means[n] == best:
            cell = f"**{cell}**"
        row = [n, cell]
        task_mean = e["acc"].mean(axis=0)
        if per_task_cols:
            row += [f"{a:.3f}" for a in task_mean]
        neg = "-" if n in BASELINE.values() else f"{e['neg'].mean():.2f}"
        row += [f"{task_mean.min():.3f}", neg, f"{np.mean(e['time']):.2f}",
                str(e["warn"])]  # fmt: skip
        lines.append("| " + " | ".join(row) + " |")
    if per_task_cols:
        lines += ["", "Tasks: " + "; ".join(f"{_short(t)} = `{t}`" for t in labels)]
    return lines + [""]


def _summary(results):
    keys = [k for k in results if "per task" in k]
    sizes = sorted({int(k.split(", ")[1].split()[0]) for k in keys})
    if not keys:
        return []
    names = [n for n in results[keys[0]] if n != "_meta"]
    head = ["model"] + [f"{s} per task" for s in sizes]
    if "one-vs-rest, 20 tasks" in results:
        head.append("one-vs-rest")
    lines = ["## Summary", "", "Mean per-task accuracy over the pair settings "
             "(and the one-vs-rest problem), with the share of (task, draw) pairs "
             "showing negative transfer in brackets.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]  # fmt: skip
    for n in names:
        row = [n]
        for s in sizes:
            cells = [results[k][n] for k in keys if k.endswith(f", {s} per task")]
            acc = np.mean([c["acc"].mean() for c in cells])
            neg = np.mean([c["neg"].mean() for c in cells])
            row.append(f"{acc:.3f}" + ("" if n in BASELINE.values() else
                                       f" ({neg:.2f})"))  # fmt: skip
        if "one-vs-rest, 20 tasks" in results:
            c = results["one-vs-rest, 20 tasks"].get(n)
            row.append(
                "-"
                if c is None
                else f"{c['acc'].mean():.3f}"
                + ("" if n in BASELINE.values() else f" ({c['neg'].mean():.2f})")
            )
        lines.append("| " + " | ".join(row) + " |")
    return lines + [""]


def _speed_section(rows, profile, device):
    lines = ["## 2. Speed: seconds per epoch, same architecture and input", ""]
    lines.append(
        f"One hidden layer of {HIDDEN[0]} relu units, Adam (lr 1e-3), L2 alpha "
        f"1e-4, batch size {BATCH}, shuffled every epoch; the same CSR TF-IDF "
        "matrix (float64) given to both (the network trains in float32, its "
        "default; `MLPClassifier float32` is scikit-learn on a float32 copy). "
        "Epoch time = (fit of 1 + k epochs - fit of 1 epoch) / k, best of the "
        "repeats, the contenders interleaved; *setup* = the rest of a fit "
        "(validation, initialisation, the first epoch's extra costs). "
        f"Ratio = epoch time / `MLPClassifier`'s (goal for the network on CPU: "
        f"<= {SPEED_GOAL})."
    )
    lines.append("")
    head = ["problem (n x p, nnz)", "contender", "s / epoch", "ratio to MLPClassifier",
            "ratio to MLP float32", "setup s"]  # fmt: skip
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        contenders = [c for c in r if isinstance(r[c], dict)]
        ref32 = r["MLPClassifier float32"]["epoch"]
        for c in contenders:
            ratio = f"{r[c]['ratio']:.2f}"
            if c.startswith("MultiTaskNet cpu"):
                ratio = f"**{ratio}**"
            lines.append(
                f"| {r['problem']} ({r['n']} x {r['p']}, {r['nnz']}) | {c} | "
                f"{r[c]['epoch']:.3f} | {ratio} | {r[c]['epoch'] / ref32:.2f} | "
                f"{r[c]['setup']:.2f} |"
            )
    lines.append("")
    for r in rows:
        if "MultiTaskNet cpu" not in r:
            continue
        ratio = r["MultiTaskNet cpu"]["ratio"]
        verdict = "met" if ratio <= SPEED_GOAL else "NOT met"
        line = (f"- {r['problem']}: network / MLPClassifier epoch time = "
                f"**{ratio:.2f}** (goal <= {SPEED_GOAL}: {verdict})")  # fmt: skip
        fix = r.get("MultiTaskNet cpu, proposed fix")
        if fix:
            line += f"; with the proposed fix {fix['ratio']:.2f}"
        lines.append(line + ".")
    for r in rows:
        # the network on another device: "MultiTaskNet <device>", not the
        # CPU variants ("MultiTaskNet cpu", "MultiTaskNet cpu, proposed fix")
        gpu = [c for c in r if isinstance(r[c], dict) and c.startswith("MultiTaskNet")
               and "cpu" not in c]  # fmt: skip
        for c in gpu:
            speedup = r["MultiTaskNet cpu"]["epoch"] / r[c]["epoch"]
            lines.append("")
            lines.append(
                f"GPU/CPU on {r['problem']}: epoch time ratio "
                f"{r[c]['epoch'] / r['MultiTaskNet cpu']['epoch']:.3f} (GPU "
                f"{speedup:.1f}x faster; goal >= {GPU_GOAL:g}x: "
                f"{'met' if speedup >= GPU_GOAL else 'NOT met'})."
            )
    lines += ["", f"Profile of the network on {device} (cProfile, own time):", "",
              "```", profile, "```", ""]  # fmt: skip
    return lines


def _ops_section(ops, speed):
    if not ops:
        return []
    lines = ["### Where the network's epoch goes, and what would remove it", "",
             f"Per batch of {BATCH} rows on the first speed problem's X "
             f"({speed[0]['n']} x {speed[0]['p']}), one thread, mean of 20 runs: the "
             "operation as `skmtl.neural` runs it now and the proposed "
             "replacement (same numbers out). Not in `skmtl/neural` yet: measured "
             "here on the operations alone.", "",
             "| step | now ms | proposed ms | proposed change |",
             "|---|---|---|---|"]  # fmt: skip
    for name, now, new, how in ops:
        new = "-" if new is None else f"{new:.2f}"
        lines.append(f"| {name} | {now:.2f} | {new} | {how} |")
    now = sum(op[1] for op in ops[2:]) + ops[0][1]
    new = sum(op[2] for op in ops[2:]) + ops[0][1]
    n_batches = -(-speed[0]["n"] // BATCH)
    lines += ["", f"Sum of the first layer's forward + backward, L2 and Adam and the "
              f"slicing: {now:.1f} ms now, {new:.1f} ms proposed, x {n_batches} "
              f"batches = {now * n_batches / 1e3:.2f} s / {new * n_batches / 1e3:.2f} "
              "s per epoch (the rest of the network, the head and Python overhead "
              "not counted).", ""]  # fmt: skip
    return lines


def _memory_section(mem):
    if not mem:
        return []
    mib = 2**20
    lines = ["## 3. Peak memory of a fit (fresh process)", ""]
    lines.append(
        f"{mem['problem']}: X {mem['shape'][0]} x {mem['shape'][1]}, CSR float32 "
        f"{mem['csr'] / mib:.1f} MiB; its dense float32 copy would be "
        f"{mem['dense'] / mib:.0f} MiB; the first layer's weights alone are "
        f"{mem['weights'] / mib:.1f} MiB (x4 with its gradient and Adam's two "
        "moments). In a new process: current RSS (`VmRSS`) after loading X and "
        "building the estimator, and peak RSS (`VmHWM`, /proc/self/status) after "
        "a 1-epoch fit; the increase is what the fit added at its peak (model, "
        "gradients, optimiser state, batches)."
    )
    lines += [
        "",
        "| contender | RSS before fit MiB | peak RSS after fit MiB | "
        "increase MiB | increase / dense X |",
        "|---|---|---|---|---|",
    ]
    for r in mem["rows"]:
        inc = r["after"] - r["before"]
        lines.append(
            f"| {r['contender']} | {r['before'] / mib:.0f} | {r['after'] / mib:.0f} "
            f"| {inc / mib:.0f} | {inc / mem['dense']:.3f} |"
        )
    return lines + [""]


def _report(results, skipped, speed, profile, mem, info):
    cfg = info["cfg"]
    b, a = info["before"], info["after"]
    lines = ["# Multi-task networks: accuracy, speed and memory", "",
             f"Command: `{info['command']}`", "",
             f"- Date: {info['date']}; wall time of the run: {info['elapsed']:.0f} s",
             f"- Machine: {b['cpu']}; threads: {b['blas']}; BLAS / OpenMP / torch "
             f"limited to {info['threads']} thread(s) (threadpoolctl, "
             "torch.set_num_threads)",
             f"- Load average (1, 5, 15 min) before / after the run: {b['load']} / "
             f"{a['load']}",
             f"- {b['versions']} (git {b['commit']})", ""]  # fmt: skip
    if results or skipped:
        lines += ["## 1. Accuracy", ""]
        lines.append(
            "Networks: `MultiTaskNetClassifier(hidden_layer_sizes=(100,), "
            "task_weighting=...)`, every other parameter at its default (Adam, lr "
            "1e-3, alpha 1e-4, batch min(200, n), tol 1e-4, n_iter_no_change 10, "
            "no early stopping), `random_state` = the draw's seed. MLPs: "
            "`MLPClassifier(hidden_layer_sizes=(100,))` with the same defaults, "
            "one per task (`MLP per task`) or one for all rows ignoring the task "
            "(`MLP pooled`). Nothing of the networks is tuned. Linear models: "
            f"`MultiTaskClassifierCV` with {cfg['cv_folds']} task-stratified folds, "
            f"alpha on {len(cfg['alphas'])} log-spaced values from "
            f"{max(cfg['alphas']):g} to {min(cfg['alphas']):g}; mean `shared` in "
            "[0.01, 0.1, 1], graph (all pairs) `coupling` in [0.3, 1, 3]; `linear "
            "pooled` is one model for all rows. Features: 20 Newsgroups with "
            "headers, footers and quotes removed, `TfidfVectorizer(sublinear_tf="
            "True, stop_words='english')` fitted on the training documents of the "
            "draw (each document once), CSR, given to every model. Pair settings: "
            "`train_test_split_tasks` (balanced per class) draws the labelled "
            "documents of each task, the rest of the task is its test set. "
            "One-vs-rest: task g = 'is the document in newsgroup g'; training rows "
            "from the bydate train subset, test rows from the bydate test subset; "
            f"balanced sampling: every positive, and at most "
            f"{cfg['ovr_train_negatives']} (train) / {cfg['ovr_test_negatives']} "
            "(test) negatives per task drawn uniformly from the 19 other groups "
            "(`max_negatives_per_task`); so each task has about as many negatives "
            "as positives, and a document is a row of several tasks. The networks "
            "run a fixed budget of epochs there; *conv. warn.* counts the "
            "`ConvergenceWarning`s of max_epochs reached (expected, not a failure)."
        )
        lines.append("")
        for key, why in skipped.items():
            lines += [f"- {key}: skipped, {why}", ""]
        lines += _summary(results)
        for key, res in results.items():
            lines += _accuracy_section(key, res)
    if speed:
        lines += _speed_section(speed, profile, info["device"])
        lines += _ops_section(info.get("ops", []), speed)
    lines += _memory_section(mem)
    lines += ["## Notes", ""] + [f"- {n}" for n in info["notes"]] + [""]
    return "\n".join(lines)
