"""The training loop of the multi-task networks (skorch's names).

:meth:`TrainingMixin.get_loss` gives the per-task losses of a batch,
:meth:`TrainingMixin.train_step` runs one optimizer step through the task
weighting, ``_run_epochs`` drives mini-batch epochs (stopping rule, early
stopping, progress bar) and ``_run_lbfgs`` full-batch L-BFGS. Subclasses
hook in through ``_on_epoch_end(state)`` (after each epoch) and
``_l2_backward`` / ``_l2_value`` (the penalty; L2-SP overrides them).

Thread policy (:func:`torch_threads`): on a busy 2-core machine torch's
default OpenMP threads made a small fit about 200 times slower (9.4 s
against 0.04 s for 200 steps of a 16-unit network) and the TF-IDF network of
the demo 3 times slower (0.58 s against 0.19 s per epoch); CPU training and
prediction therefore follow the package's one thread policy
(:mod:`skmtl._threads`, shared with BLAS in the linear wing): one intra-op
thread unless a step is large (``batch_size * n_parameters`` at least
``MANY_THREADS_WORK``), never more than torch's setting, which is restored
afterwards.
"""

import copy
import warnings
from contextlib import contextmanager

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from .._threads import n_threads_for

__all__ = ["TrainingMixin", "torch_threads", "segments", "DTYPES"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def segments(codes):
    """Row order grouping ``codes`` and the ``(task, start, stop)`` of each group."""
    order = np.argsort(codes, kind="stable")
    tasks, starts, counts = np.unique(
        codes[order], return_index=True, return_counts=True
    )
    return order, [
        (int(t), int(s), int(s + c)) for t, s, c in zip(tasks, starts, counts)
    ]


@contextmanager
def torch_threads(module, batch_size):
    """Run the block with the thread count of the policy above."""
    device = next(module.parameters(), torch.zeros(())).device
    n_params = sum(p.numel() for p in module.parameters())
    old = torch.get_num_threads()
    n_threads = n_threads_for(float(batch_size) * n_params, old)
    if device.type != "cpu" or n_threads >= old:
        yield
        return
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class TrainingMixin:
    """Batches, losses, optimizer steps and epochs of :class:`BaseMultiTaskNet`."""

    def _on_epoch_end(self, state):
        """Hook called after each epoch (``state["n_iter_"]`` epochs done)."""

    def get_loss(self, module, data, rows, device):
        """Per-task losses of a batch: ``(features, losses, task_ids, rows_per_task)``.

        ``losses[k]`` is the sample-weighted mean loss of the batch's rows of
        task ``task_ids[k]`` (``rows`` index the training set ``data``).
        """
        order, segs = segments(data["codes"][rows])
        rows = rows[order]
        xb = self._batch(data["X"], rows, device)
        z, outputs = module(xb, segs)
        sw = torch.as_tensor(
            data["sample_weight"][rows], device=device, dtype=DTYPES[self.dtype]
        )
        losses, task_ids, counts = [], [], []
        for (t, lo, hi), out in zip(segs, outputs):
            row_loss = self._row_loss(out, data, rows[lo:hi], t)
            w = sw[lo:hi]
            losses.append((w * row_loss).sum() / w.sum())
            task_ids.append(t)
            counts.append(hi - lo)
        return z, torch.stack(losses), np.array(task_ids), np.array(counts)

    def _l2_backward(self, params, state):
        """Add the gradient of ``alpha / 2 * sum ||W||^2`` over the weight matrices.

        ``params`` are the encoder's and the heads of the tasks in the batch: a
        head whose task is absent from a batch does not move (with Adam, a
        decay gradient alone would also replay its momentum), so that
        ``partial_fit`` on new tasks leaves the other tasks' heads as they were.
        A full batch (L-BFGS) holds every task: the objective is unchanged.
        """
        if self.alpha == 0:
            return
        for p in params:
            if p.requires_grad and p.ndim >= 2:
                if p.grad is None:
                    p.grad = self.alpha * p.detach()
                else:  # in place: no new (n_features, units) tensor per step
                    p.grad.add_(p.detach(), alpha=self.alpha)

    def _l2_value(self, module, state):
        """``alpha / 2 * sum ||W||^2`` as a tensor (part of the autograd graph)."""
        penalised = [p for p in module.parameters() if p.requires_grad and p.ndim >= 2]
        if not penalised:
            return torch.zeros(())
        return 0.5 * self.alpha * sum((p * p).sum() for p in penalised)

    def train_step(self, state, data, rows, task_scale):
        """One optimizer step on the batch ``rows``; returns the per-task losses."""
        module, optimizer, weighting = (
            state["module_"],
            state["optimizer_"],
            state["task_weighting_"],
        )
        device = next(module.parameters()).device
        module.train()
        optimizer.zero_grad(set_to_none=True)
        z, losses, task_ids, counts = self.get_loss(module, data, rows, device)
        self._check_finite(losses)
        lam = torch.as_tensor(task_scale[task_ids], dtype=losses.dtype, device=device)
        active = task_scale[task_ids] > 0
        shared = [p for p in module.encoder.parameters() if p.requires_grad]
        heads = [
            p
            for t in task_ids[active]
            for p in module.heads[t].parameters()
            if p.requires_grad
        ]
        if active.any():
            idx = torch.as_tensor(np.flatnonzero(active), device=device)
            weights = weighting.backward(
                (lam * losses)[idx], task_ids[active], shared, heads, z
            )
        else:
            weights = np.zeros(0)
        self._l2_backward(shared + heads, state)
        optimizer.step()
        return (
            losses.detach().cpu().numpy().astype(float),
            task_ids,
            counts,
            weights,
            active,
        )

    def _check_finite(self, losses):
        if not torch.isfinite(losses).all():
            raise ValueError(
                "the training loss became NaN or infinite: the optimisation diverged. "
                f"Lower learning_rate (now {self.learning_rate}) or scale the input "
                "features."
            )

    def _run_epochs(self, state, data, seed, epochs):
        codes, n = data["codes"], data["X"].shape[0]
        n_tasks = len(data["task_labels"])
        task_scale = data["task_weights"] * data["task_scale"]
        rng = np.random.RandomState(seed)
        train, valid = np.arange(n), None
        if self.early_stopping and epochs is None:
            train, valid = self._validation_split(codes, data["targets"], rng)
        if self._is_lbfgs():
            return self._run_lbfgs(state, data, task_scale, epochs)
        batch = (
            min(200, len(train))
            if self.batch_size == "auto"
            else min(self.batch_size, len(train))
        )
        max_epochs = self.max_epochs if epochs is None else epochs
        best, best_epoch, best_module, stall = np.inf, 0, None, 0
        bar = self._progress(max_epochs)
        converged = epochs is not None
        for _ in range(max_epochs):
            perm = rng.permutation(train)
            sums, sizes = np.zeros(n_tasks), np.zeros(n_tasks)
            wsum, wcount = np.zeros(n_tasks), np.zeros(n_tasks)
            for start in range(0, len(perm), batch):
                losses, ids, counts, weights, active = self.train_step(
                    state, data, perm[start : start + batch], task_scale
                )
                sums[ids] += losses * counts
                sizes[ids] += counts
                wsum[ids[active]] += weights
                wcount[ids[active]] += 1
            state["t_"] += len(perm)
            state["n_iter_"] += 1
            with np.errstate(invalid="ignore", divide="ignore"):
                task_loss = sums / sizes
                state["task_weights_history_"].append(wsum / wcount)
            state["task_loss_curve_"].append(task_loss)
            total = float(
                np.nansum(task_scale * task_loss)
                + self._l2_value(state["module_"], state).detach().item()
            )
            state["loss_curve_"].append(total)
            state["task_weighting_"].end_epoch(task_loss)
            self._on_epoch_end(state)
            if valid is not None:
                scores = self._task_scores(state["module_"], data, valid)
                state["validation_scores_"].append(scores)
                criterion = (
                    -float(np.nanmean(scores)) if np.isfinite(scores).any() else np.inf
                )
            else:
                criterion = total
            bar.update(1)
            bar.set_postfix(
                self._postfix(total, task_loss, data["task_labels"]), refresh=False
            )
            if epochs is not None:
                continue
            # scikit-learn's MLP rule: an improvement must exceed tol (absolute)
            if criterion < best - self.tol:
                best, best_epoch, stall = criterion, state["n_iter_"], 0
                if valid is not None:
                    best_module = copy.deepcopy(state["module_"].state_dict())
            else:
                stall += 1
            if stall >= self.n_iter_no_change:
                converged = True
                break
        bar.close()
        if valid is not None:
            if best_module is not None:
                state["module_"].load_state_dict(best_module)
            state["best_validation_score_"] = -best
            state["best_epoch_"] = best_epoch
        if not converged:
            watched = "validation score" if valid is not None else "training loss"
            warnings.warn(
                f"{type(self).__name__} reached max_epochs={self.max_epochs} before "
                f"the {watched} stopped improving by tol={self.tol} for "
                f"n_iter_no_change={self.n_iter_no_change} epochs; raise max_epochs "
                "or learning_rate.",
                ConvergenceWarning,
                stacklevel=4,
            )
        return state

    def _run_lbfgs(self, state, data, task_scale, epochs):
        module, optimizer = state["module_"], state["optimizer_"]
        device = next(module.parameters()).device
        rows = np.arange(data["X"].shape[0])
        last = {}
        lam_all = task_scale

        def closure():
            optimizer.zero_grad(set_to_none=True)
            module.train()
            _, losses, ids, _ = self.get_loss(module, data, rows, device)
            self._check_finite(losses)
            lam = torch.as_tensor(lam_all[ids], dtype=losses.dtype, device=device)
            total = (lam * losses).sum() + self._l2_value(module, state)
            total.backward()
            last["losses"], last["ids"] = losses.detach().cpu().numpy(), ids
            return total

        rounds = self.max_epochs if epochs is None else epochs
        converged = epochs is not None
        eps = float(torch.finfo(DTYPES[self.dtype]).eps)
        prev = np.inf
        for _ in range(rounds):
            optimizer.step(closure)
            # step() returns the loss where the round started: evaluate the
            # objective and its gradient where it ended
            total = closure().detach().item()
            grad = max(
                (
                    float(p.grad.abs().max())
                    for p in module.parameters()
                    if p.grad is not None
                ),
                default=0.0,
            )
            state["n_iter_"] += 1
            state["t_"] += len(rows)
            task_loss = np.full(len(task_scale), np.nan)
            task_loss[last["ids"]] = last["losses"]
            state["task_loss_curve_"].append(task_loss)
            state["loss_curve_"].append(total)
            state["task_weights_history_"].append(np.ones(len(task_scale)))
            # converged: the gradient's largest entry is below tol (the
            # objective is a mean loss, O(1)), or a round no longer moves the
            # objective beyond round-off (the precision of dtype is reached)
            stuck = abs(prev - total) <= 16 * eps * max(abs(total), 1.0)
            if epochs is None and (grad <= self.tol or stuck):
                converged = True
                break
            prev = total
        if not converged:
            warnings.warn(
                f"{type(self).__name__} with optimizer='lbfgs' reached max_epochs="
                f"{self.max_epochs} rounds of L-BFGS before the largest gradient "
                f"entry fell below tol={self.tol}.",
                ConvergenceWarning,
                stacklevel=4,
            )
        return state

    def _validation_split(self, codes, targets, rng):
        """Hold out ``validation_fraction`` of every task's rows (at least one)."""
        valid = []
        for t in np.unique(codes):
            rows = np.flatnonzero(codes == t)
            k = int(round(self.validation_fraction * len(rows)))
            if len(rows) >= 2:
                valid.append(
                    rng.choice(rows, size=min(max(k, 1), len(rows) - 1), replace=False)
                )
        valid = np.sort(np.concatenate(valid)) if valid else np.zeros(0, dtype=np.intp)
        if not len(valid):
            raise ValueError(
                "early_stopping=True holds out validation rows from each task, "
                "but every task has only 1 sample; set early_stopping=False."
            )
        train = np.setdiff1d(np.arange(len(codes)), valid)
        return train, valid

    def _progress(self, total):
        from tqdm.auto import tqdm

        return tqdm(
            total=total,
            disable=not self.verbose,
            desc=type(self).__name__,
            unit="epoch",
        )

    @staticmethod
    def _postfix(total, task_loss, labels):
        shown = {"loss": f"{total:.4g}"}
        for label, value in list(zip(labels.tolist(), task_loss))[:4]:
            shown[str(label)] = f"{value:.3g}"
        return shown
