"""Reading the rows of a transfer problem that has unlabelled target rows.

Shared by the estimators that learn from the unlabelled target (self-training,
EM, entropy-regularised transfer): one rule for the ``unlabelled`` mask, the
domains and the labels, so that every estimator reads them the same way.

- ``unlabelled`` (per-row fit metadata, array of bool) marks the rows whose
  ``y`` is a placeholder; that placeholder is never read (not even to infer
  the dtype of the labels).
- An unlabelled row is a row of the target domain, whatever its ``tasks``
  entry: unlabelled source rows carry no information these methods use.
- A row of ``sample_weight`` 0 is absent (dropped before anything else).
"""

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from .._tasks import check_task_labels, repeat_label, rows_with_label
from .._validation import check_class_labels, check_sample_weight, check_unlabelled

__all__ = [
    "TransferRows",
    "check_transfer_rows",
    "fill_prior_strength_doc",
    "labelled_targets",
]

# The ``prior_strength`` parameter of every estimator that balances its
# pseudo-labels by ``class_proportions``: one text, placed into each class
# docstring at ``%(prior_strength)s`` (a 4-space indented Parameters entry).
_PRIOR_STRENGTH_DOC = """\
prior_strength : float, default=0.0
    With ``class_prior="target"``: Dirichlet pseudo-counts, in the
    labelled source rows' class proportions (uniform without source
    rows), added to the labelled target's weighted class counts, so that
    ``pi_c = (n_c + m * s_c) / (n + m)`` (the posterior mean of the
    proportions). A few labelled target rows drawn at random give noisy
    proportions, and the balanced rounds follow them exactly; ``m``
    about the number of labelled target rows halves that noise when the
    domains' proportions are close. 0 (the default): the labelled
    target's own proportions. Any other ``class_prior`` refuses a
    positive value.
"""


def fill_prior_strength_doc(cls):
    """Class decorator: put the shared ``prior_strength`` entry in its docstring."""
    entry = "".join(
        "    " + line if line else line
        for line in _PRIOR_STRENGTH_DOC.splitlines(keepends=True)
    )
    marker = "    %(prior_strength)s\n"
    if cls.__doc__ is None:  # python -OO strips docstrings
        return cls
    if marker not in cls.__doc__:
        raise RuntimeError(f"{cls.__name__}'s docstring has no {marker.strip()}")
    cls.__doc__ = cls.__doc__.replace(marker, entry)
    return cls


def labelled_targets(y, unlabelled):
    """The labels of the labelled rows, shape (n_labelled,); placeholders unread.

    A list is read element by element at the labelled positions, so that a
    placeholder of another type (a string among integers) cannot turn the
    labels into strings; an object array whose labelled entries are all
    numbers gets their numeric dtype, as if the placeholders were absent.
    """
    n = len(unlabelled)
    if y is None:
        raise ValueError(
            "requires y to be passed, but the target y is None (the labels of the "
            "labelled rows; unlabelled rows may hold any placeholder)."
        )
    idx = np.flatnonzero(~unlabelled)
    if isinstance(y, (list, tuple)):
        if len(y) != n:
            raise ValueError(f"y has {len(y)} rows but X has {n}.")
        y_lab = np.asarray([y[i] for i in idx])
    else:
        y_arr = np.asarray(y)
        if y_arr.ndim == 0 or y_arr.shape[0] != n:
            raise ValueError(f"y has shape {y_arr.shape} but X has {n} rows.")
        y_lab = y_arr[idx]
    # a missing label is an error on a labelled row only (placeholders unread)
    check_class_labels(y_lab, rows=idx)
    if not isinstance(y, (list, tuple)):
        if y_lab.dtype == object and unlabelled.any() and y_lab.size:
            numeric = np.asarray(y_lab.tolist())
            if numeric.dtype.kind in "biuf" and numeric.ndim == y_lab.ndim:
                y_lab = numeric
    y_lab = column_or_1d(y_lab, warn=True)
    check_classification_targets(y_lab)
    return y_lab


class TransferRows:
    """The validated rows of one fit (after dropping rows of weight 0).

    Attributes
    ----------
    keep : ndarray of bool, shape (n_samples,)
        Rows of positive weight (the others are absent).
    sample_weight : ndarray of shape (n_kept,)
    unlabelled : ndarray of bool, shape (n_kept,)
    is_target : ndarray of bool, shape (n_kept,)
        Target rows: the rows whose task is ``target`` and every unlabelled row.
    tasks : ndarray of shape (n_kept,) or None
        The domains to pass to a base estimator (``target`` on unlabelled
        rows), None when ``tasks`` was None (every row is a target row).
    y : ndarray of shape (n_kept,)
        Labels of the labelled rows; unlabelled rows hold ``classes[0]``, a
        filler that the estimators overwrite and never read as a label.
    classes : ndarray of shape (n_classes,)
        Sorted classes of the labelled rows.
    """


def check_transfer_rows(
    y, tasks, sample_weight, unlabelled, target, n_samples, *, shown_target=None
):
    """Validate ``y``, ``tasks``, ``sample_weight`` and ``unlabelled`` together.

    Raises a ``ValueError`` naming the argument for a bad mask, weights or
    tasks, when no labelled row of positive weight is left, or (with
    ``tasks`` given) when no row is a target row. ``shown_target``: the
    user's target label for that message, when ``tasks`` were relabelled
    (None: ``target``).
    """
    mask = check_unlabelled(unlabelled, n_samples)
    y_lab = labelled_targets(y, mask)
    sw = check_sample_weight(sample_weight, n_samples)
    if tasks is None:
        domains = None
        is_target = np.ones(n_samples, dtype=bool)
    else:
        domains = check_task_labels(tasks, n_samples).astype(object)
        is_target = rows_with_label(domains, target)
        is_target |= mask
        domains[mask] = repeat_label(target, int(mask.sum()))
        # a row of weight 0 is absent: it makes no target row
        if not (is_target & (sw > 0)).any():
            shown = target if shown_target is None else shown_target
            raise ValueError(
                f"no row of tasks (of positive sample_weight) is the target "
                f"{shown!r} and no such row is unlabelled; set target= to the "
                "label of the target domain."
            )
    keep = sw > 0
    if not (keep & ~mask).any():
        raise ValueError(
            "sample_weight is zero on every labelled row: there is nothing to "
            "learn the classes from (a row of weight 0 is absent)."
        )
    rows = TransferRows()
    rows.keep = keep
    rows.sample_weight = sw[keep]
    rows.unlabelled = mask[keep]
    rows.is_target = is_target[keep]
    rows.tasks = None if domains is None else domains[keep]
    labelled_keep = keep[~mask]
    rows.classes = np.unique(y_lab[labelled_keep])
    y_full = np.full(int(keep.sum()), rows.classes[0], dtype=y_lab.dtype)
    y_full[~rows.unlabelled] = y_lab[labelled_keep]
    rows.y = y_full
    return rows


def _weighted_class_counts(rows, pick):
    codes = np.searchsorted(rows.classes, rows.y[pick])
    return np.bincount(
        codes, weights=rows.sample_weight[pick], minlength=len(rows.classes)
    )


def class_proportions(rows, class_prior, prior_strength=0.0):
    """Class proportions that the pseudo-labels should follow.

    ``"target"``: the labelled target rows (weighted), or all labelled rows
    when no target row is labelled; with ``prior_strength = m > 0``, the
    posterior mean of the proportions under a Dirichlet prior of mass ``m``
    centred on the labelled source rows' proportions (uniform without source
    rows): ``(n_c + m * s_c) / (n + m)``, with ``n_c`` the weighted labelled
    target count of class ``c`` and ``s`` the source proportions.
    ``"labelled"``: all labelled rows (source and target); an array: those
    proportions (normalised). Raises a ``ValueError`` naming ``class_prior``
    for a bad array, and naming ``prior_strength`` when it is set with another
    ``class_prior`` than ``"target"``.
    """
    n_classes = len(rows.classes)
    if prior_strength and not (
        isinstance(class_prior, str) and class_prior == "target"
    ):
        raise ValueError(
            f"prior_strength={prior_strength} applies to class_prior='target' "
            f"only (the pseudo-counts shrink the labelled target's proportions); "
            f"got class_prior={class_prior!r}."
        )
    if isinstance(class_prior, str):
        lab = ~rows.unlabelled
        pick = lab & rows.is_target if class_prior == "target" else lab
        if not pick.any():
            pick = lab
        counts = _weighted_class_counts(rows, pick)
        if prior_strength:
            source = lab & ~rows.is_target
            centre = (
                _weighted_class_counts(rows, source)
                if source.any()
                else np.ones(n_classes)
            )
            counts = counts + prior_strength * centre / centre.sum()
        return counts / counts.sum()
    try:
        prior = np.asarray(class_prior, dtype=np.float64)
    except (TypeError, ValueError):
        prior = None
    if prior is None or isinstance(class_prior, (dict, set)):
        raise ValueError(
            "class_prior must be 'target', 'labelled' or an array of one "
            f"proportion per class in the order of classes_ "
            f"{rows.classes.tolist()[:10]}, got {type(class_prior).__name__} "
            f"{class_prior!r:.80}."
        )
    if prior.shape != (n_classes,):
        raise ValueError(
            f"class_prior has shape {prior.shape}; expected ({n_classes},), one "
            "value per class of the labelled rows (in sorted order)."
        )
    if not np.all(np.isfinite(prior)) or np.any(prior < 0) or prior.sum() <= 0:
        raise ValueError(
            "class_prior must be finite, non-negative and not all zero, got "
            f"{prior.tolist()}."
        )
    return prior / prior.sum()


def balance_posteriors(log_q, weights, prior, max_iter=100, tol=1e-9):
    """Posteriors whose class masses follow ``prior``: class mass normalisation.

    ``log_q`` holds log-posteriors (or any logits) of shape (n, n_classes).
    Returns ``Q'_i = softmax(log_q_i + beta)``, the class scales ``exp(beta)``
    chosen so that ``sum_i weights_i Q'_ic = prior_c * sum_i weights_i``
    (Zhu, Ghahramani & Lafferty, 2003, done exactly). The mass of class ``c``
    increases with ``beta_c`` alone, so each ``beta_c`` is found by a
    bracketed root search (Brent's method) with the others fixed, sweeping
    the classes until every mass is met (block coordinate descent on a
    convex function; one search is exact for two classes). Root search rather
    than Newton steps because near-certain posteriors (naive Bayes logits
    differ by hundreds) make the masses almost piecewise constant in
    ``beta``; logits rather than probabilities so that those rows can still
    be moved. A class of prior 0 gets no mass.
    """
    L = np.array(log_q, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    prior = np.asarray(prior, dtype=np.float64)
    n_classes = L.shape[1]
    active = prior > 0
    L[:, ~active] = -np.inf
    # a row with no finite logit among the active classes: uniform over them
    dead = ~np.any(np.isfinite(L[:, active]), axis=1)
    L[np.ix_(dead, np.flatnonzero(active))] = 0.0
    total = w.sum()
    goal = prior * total
    beta = np.zeros(n_classes)
    free = np.flatnonzero(active)[:-1]  # the last active class fixes the shift
    for _ in range(max_iter):
        for c in free:
            beta[c] = _solve_class_shift(L, w, beta, c, goal[c])
        mass = w @ _softmax_rows(L + beta)
        if np.max(np.abs(mass - goal)) <= tol * total:
            break
    return _softmax_rows(L + beta)


def _solve_class_shift(L, w, beta, c, goal_c):
    """``b`` with ``sum_i w_i expit(d_i + b) = goal_c``, ``d_i`` the log-odds of c."""
    others = np.delete(L + beta, c, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        top = np.max(others, axis=1)
        o = top + np.log(np.sum(np.exp(others - top[:, None]), axis=1))
        d = L[:, c] - o
    sure = np.isposinf(d) | (np.isnan(d) & np.isfinite(L[:, c]))
    never = np.isneginf(d) | (np.isnan(d) & ~np.isfinite(L[:, c]))
    open_ = ~(sure | never)
    base = w[sure].sum()
    if not open_.any():
        return beta[c]
    d_open, w_open = d[open_], w[open_]

    def excess(b):
        return base + w_open @ expit(d_open + b) - goal_c

    lo, hi = -d_open.max() - 40.0, -d_open.min() + 40.0
    if excess(lo) >= 0:
        return lo
    if excess(hi) <= 0:
        return hi
    return brentq(excess, lo, hi, xtol=1e-12, rtol=1e-12, maxiter=200)


def _softmax_rows(Z):
    top = np.max(Z, axis=1, keepdims=True)
    E = np.exp(Z - top)
    return E / E.sum(axis=1, keepdims=True)
