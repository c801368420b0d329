"""The learning part of the `learned` coder: a calibrated linear model per code on embedding vectors.

Inputs are L2-normalized sentence vectors (the project's embedder) of segments a person coded, with
a label per code that is 1 (applied), 0 (read and not applied) or NaN (unknown: a review decision
says nothing about the other codes). Each code's description in the codebook (label + definition,
inclusion criteria, examples) is embedded and added as a few *pseudo-examples*: positive for its
code, negative for the others, with a small weight. With no human example a code is therefore
still recognised from its description (like the zero-shot similarity coder), and human examples
take over as they come in.

Per code, a class-balanced logistic regression (scikit-learn) decides (decision value > 0, the
balanced rule: a rare code is not drowned by the absent class). Its score is a *calibrated
probability*: Platt scaling of the decision value fitted on out-of-fold predictions of the human
examples (not the pseudo-examples), so 0.8 means "about 8 in 10 such suggestions were right in
cross-validation". The same out-of-fold predictions give each code's cross-validated precision,
recall and Cohen's kappa. A code with fewer than `MIN_CALIBRATION` human positives (or negatives)
keeps the regression's own probability, and is reported as having too few examples.

Single-label mode (`single=True`): each unit gets the code with the highest balanced decision value
(always, when every unit people read in full had exactly one code, or nobody coded yet; else only
when that code's rule says yes).

Features are the segment's vector and, optionally, the vector of its context (the interviewer's
question, or the preceding message) times `context_weight`; see `features`.

**Shrinkage to the zero-shot coder.** When the codebook has enough texts for the similarity
coder's calibrated rule (`pipeline.coders.similarity.calibrate`: a temperature T and a cut p_min,
fitted on the codebook's own held-out texts), each code's regression is blended with that rule in
log-odds, with weight w = n / (n + `prior_strength`), where n = P + N / c for a code with P human
positives and N human negatives among c codes (a code nobody applied in many units people read is
evidence too: rare there; counting positives only let a code absent from 350 coded messages win
as often as the zero-shot rule says, -0.04 macro kappa on coded-chat at 20 examples per code):

    decision = w * d + (1 - w) * (logit p0 - logit p_min) / a
    logit p  = a * decision + w * b + (1 - w) * logit p_min
             = w * (a * d + b) + (1 - w) * logit p0

where d is the regression's decision value, a and b its Platt scaling (1 and 0 when uncalibrated)
and p0 = softmax(cosine / T) the calibrated similarity probability of the unit's own vector (the
prior's texts are the similarity coder's). A code without human labels (w = 0) is decided and scored
exactly as the similarity coder's calibrated rule does it (per unit, without its top_k cap); with
many examples (w -> 1) the regression decides (decision > 0 iff d > 0; in single mode the largest
d, as without the blend) with its Platt probability. The Platt slope divides the zero-shot term so
that the probability stays a function of the decision value alone (a is taken as 1 when a code is
uncalibrated or its slope is not positive).
Measured in docs/benchmarks.md ("Coding quality"): the plain regression was worse than the
similarity coder on the sample gold with few examples per code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score
from sklearn.model_selection import KFold, StratifiedKFold
from threadpoolctl import threadpool_limits

MIN_CALIBRATION = 3  # human positives and negatives a code needs for Platt scaling and CV figures
MIN_EXAMPLES = 5  # below this many human positives a code is reported as having too few examples
CV_FOLDS = 5


@dataclass
class LearnOptions:
    """Everything that changes what the model learns (recorded in the run's params)."""

    single: bool = False
    C: float = 1.0  # inverse regularization strength of each logistic regression
    prior_weight: float = 1.0  # sample weight of one codebook pseudo-example (a human example weighs 1)
    folds: int = CV_FOLDS
    seed: int = 0
    context_weight: float = 0.5  # weight of the context vector in the features (0: segment text only)
    # human positives at which a code's regression and the zero-shot rule weigh equally (0: no zero-shot blend)
    prior_strength: float = 2.0
    top_k: int = 3  # the zero-shot rule's top_k its cut is calibrated for (1 in single mode)

    def as_params(self) -> dict[str, Any]:
        return {"single": self.single, "C": self.C, "prior_weight": self.prior_weight, "cv_folds": self.folds,
                "seed": self.seed, "context_weight": self.context_weight, "prior_strength": self.prior_strength,
                "top_k": self.top_k}


def features(vectors: np.ndarray, context: np.ndarray | None, options: LearnOptions) -> np.ndarray:
    """The model's input: segment vectors, then context vectors (zero where a unit has none) weighted."""
    vectors = np.asarray(vectors, dtype=np.float64)
    if options.context_weight <= 0:
        return vectors
    ctx = np.zeros_like(vectors) if context is None else np.asarray(context, dtype=np.float64)
    return np.hstack([vectors, options.context_weight * ctx])


@dataclass
class Prior:
    """Pseudo-examples from the codebook: vectors and, for each, the index of the code it describes."""

    vectors: np.ndarray  # (m, d)
    code_index: np.ndarray  # (m,) int


@dataclass
class ZeroShot:
    """The similarity coder's calibrated rule on the prior's texts: code vectors, temperature, cut."""

    matrix: np.ndarray  # (c, d) normalized mean of each code's texts
    temperature: float
    p_min: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        """(n, c) log-odds of the calibrated similarity probability of each unit vector (first d columns of x)."""
        from pipeline.coders.similarity import softmax

        p = softmax(np.asarray(x[:, :self.matrix.shape[1]] @ self.matrix.T, dtype=np.float64), self.temperature)
        p = np.clip(p, 1e-12, 1 - 1e-12)
        return np.asarray(np.log(p) - np.log1p(-p), dtype=np.float64)

    @property
    def logit_cut(self) -> float:
        p = min(max(self.p_min, 1e-6), 1 - 1e-6)
        return float(np.log(p) - np.log1p(-p))


def zero_shot(prior: Prior, n_codes: int, top_k: int) -> ZeroShot | None:
    """The similarity coder's calibration on the prior's texts (None when the codebook has too few to hold out)."""
    from pipeline.coders.similarity import calibrate

    if n_codes < 2 or not len(prior.vectors):
        return None
    groups = [np.asarray(prior.vectors[prior.code_index == j], dtype=np.float64) for j in range(n_codes)]
    if any(len(g) == 0 for g in groups):
        return None
    calibration = calibrate(groups, top_k)
    if calibration is None:
        return None
    matrix = np.stack([g.mean(axis=0) for g in groups])
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return ZeroShot(matrix, calibration.temperature, calibration.p_min)


@dataclass
class CodeStats:
    """What the training data says about one code (stored in the run's params)."""

    code_id: str
    positives: int
    negatives: int
    calibrated: bool = False
    precision: float | None = None
    recall: float | None = None
    kappa: float | None = None
    weight: float | None = None  # the regression's weight against the zero-shot rule (None: no blend)

    def as_dict(self) -> dict[str, Any]:
        return {"positives": self.positives, "negatives": self.negatives, "calibrated": self.calibrated,
                "cv_precision": self.precision, "cv_recall": self.recall, "cv_kappa": self.kappa,
                "learned_weight": self.weight}


@dataclass
class _Fitted:
    coef: np.ndarray  # (c, d)
    intercept: np.ndarray  # (c,)
    constant: np.ndarray  # (c,) NaN, or the constant probability of a code that could not be fitted

    def decision(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x @ self.coef.T + self.intercept, dtype=np.float64)


@dataclass
class LearnedModel:
    """A fitted model: decision values, calibrated probabilities, decisions, and the training report."""

    code_ids: list[str]
    options: LearnOptions
    fitted: _Fitted
    platt: np.ndarray  # (c, 2): a, b of p = 1 / (1 + exp(-(a * decision + b))); NaN row = uncalibrated
    always_one: bool  # single mode: every labelled unit had exactly one code
    stats: list[CodeStats] = field(default_factory=list)
    cv: dict[str, float | None] = field(default_factory=dict)
    zero_shot: ZeroShot | None = None
    weight: np.ndarray | None = None  # (c,) the regression's weight w against the zero-shot rule

    def decision(self, x: np.ndarray) -> np.ndarray:
        """(n, c) decision values: > 0 means the code applies (blended with the zero-shot rule; module docstring)."""
        d = self.fitted.decision(x)
        if self.zero_shot is None or self.weight is None:
            return d
        z = self.zero_shot.logit(np.asarray(x, dtype=np.float64)) - self.zero_shot.logit_cut
        return np.asarray(self.weight * d + (1 - self.weight) * z / self._slope(), dtype=np.float64)

    def _slope(self) -> np.ndarray:
        """Each code's Platt slope a (1 where uncalibrated, or where cross-validation found no positive slope)."""
        a = self.platt[:, 0]
        return np.where(np.isnan(a) | ~(a > 0), 1.0, a)

    def proba(self, x: np.ndarray, decision: np.ndarray | None = None) -> np.ndarray:
        """(n, c) calibrated probability of each code (from `decision`'s values when given)."""
        d = self.decision(x) if decision is None else decision
        if self.zero_shot is None or self.weight is None:
            return _probability(d, self.platt, self.fitted.constant)
        b = np.where(np.isnan(self.platt[:, 1]), 0.0, self.platt[:, 1])
        offset = self.weight * b + (1 - self.weight) * self.zero_shot.logit_cut
        return _probability(d, np.stack([self._slope(), offset], axis=1), self.fitted.constant)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(applied bool (n, c), probability (n, c)) under the model's decision rule."""
        d = self.decision(x)
        p = self.proba(x, d)
        return decide(d, p, self.fitted.constant, self.options.single, self.always_one), p

    def few_examples(self) -> list[CodeStats]:
        return [s for s in self.stats if s.positives < MIN_EXAMPLES]

    def report(self) -> dict[str, Any]:
        return {"codes": {s.code_id: s.as_dict() for s in self.stats}, "cv": self.cv,
                "few_examples": [s.code_id for s in self.few_examples()], "min_examples": MIN_EXAMPLES}


def _probability(d: np.ndarray, platt: np.ndarray, constant: np.ndarray) -> np.ndarray:
    calibrated = ~np.isnan(platt[:, 0])
    a = np.where(calibrated, platt[:, 0], 1.0)
    b = np.where(calibrated, platt[:, 1], 0.0)
    p = 1.0 / (1.0 + np.exp(-np.clip(d * a + b, -50, 50)))
    return np.where(np.isnan(constant), p, constant)


def decide(d: np.ndarray, p: np.ndarray, constant: np.ndarray, single: bool, always_one: bool) -> np.ndarray:
    """Which codes apply, from decision values `d` and probabilities `p` (n, c) (see the module docstring)."""
    rule = np.where(np.isnan(constant), d > 0, constant >= 0.5)
    if not single:
        return rule
    out = np.zeros_like(rule)
    if p.shape[1] == 0:
        return out
    # Balanced decision values are comparable across codes; a probability of an uncalibrated code is not.
    best = np.where(np.isnan(constant), d, np.where(constant >= 0.5, np.inf, -np.inf)).argmax(axis=1)
    rows = np.arange(len(p))
    out[rows, best] = True if always_one else rule[rows, best]
    return out


def _fit(x: np.ndarray, y: np.ndarray, prior: Prior, options: LearnOptions) -> _Fitted:
    """One balanced logistic regression per code on the known labels plus the pseudo-examples."""
    n_codes = y.shape[1]
    dim = x.shape[1]
    coef = np.zeros((n_codes, dim))
    intercept = np.zeros(n_codes)
    constant = np.full(n_codes, np.nan)
    for j in range(n_codes):
        known = ~np.isnan(y[:, j])
        xj = np.vstack([x[known], prior.vectors])
        yj = np.concatenate([y[known, j], (prior.code_index == j).astype(float)])
        wj = np.concatenate([np.ones(int(known.sum())), np.full(len(prior.vectors), options.prior_weight)])
        if len(yj) == 0 or yj.min() == yj.max():
            constant[j] = float(yj[0]) if len(yj) else 0.0
            continue
        model = LogisticRegression(C=options.C, class_weight="balanced", max_iter=1000)
        model.fit(xj, yj.astype(int), sample_weight=wj)
        coef[j] = model.coef_[0]
        intercept[j] = model.intercept_[0]
    return _Fitted(coef, intercept, constant)


def _platt(d: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling with Platt's (1999) smoothed targets: (N+ + 1) / (N+ + 2) for a positive, 1 / (N- + 2)
    for a negative, so that a few separable examples do not claim certainty (each unit enters twice,
    as a positive and a negative, weighted by its target)."""
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    target = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    x = np.concatenate([d, d]).reshape(-1, 1)
    labels = np.concatenate([np.ones(len(d), dtype=int), np.zeros(len(d), dtype=int)])
    model = LogisticRegression(C=1e4, max_iter=1000)
    model.fit(x, labels, sample_weight=np.concatenate([target, 1 - target]))
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def _folds(y: np.ndarray, options: LearnOptions) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cross-validation folds over the labelled units, stratified by their first code when possible."""
    n = len(y)
    filled = np.nan_to_num(y)
    first = np.where(filled.sum(axis=1) > 0, filled.argmax(axis=1), -1)
    k = min(options.folds, n)
    if k < 2:
        return []
    _, counts = np.unique(first, return_counts=True)
    if counts.min() >= k:
        splitter: StratifiedKFold | KFold = StratifiedKFold(k, shuffle=True, random_state=options.seed)
        return list(splitter.split(np.zeros(n), first))
    return list(KFold(k, shuffle=True, random_state=options.seed).split(np.zeros(n)))


def fit(x: np.ndarray, y: np.ndarray, code_ids: list[str], prior: Prior, options: LearnOptions | None = None,
        cross_validate: bool = True) -> LearnedModel:
    """Fit the model on human-labelled `x` (n, f: see `features`) with labels `y` (n, c: 1/0/NaN) and the prior.

    With `cross_validate`, out-of-fold decision values give each code's Platt calibration and its
    cross-validated precision, recall and kappa (codes with at least MIN_CALIBRATION human positives
    and negatives); the final model is then fitted on everything.
    """
    with threadpool_limits(limits=1):  # many small fits: BLAS threads only add overhead (10x on a busy machine)
        return _fit_all(x, y, code_ids, prior, options or LearnOptions(), cross_validate)


def _fit_all(x: np.ndarray, y: np.ndarray, code_ids: list[str], prior: Prior, options: LearnOptions,
             cross_validate: bool) -> LearnedModel:
    prior = Prior(features(prior.vectors, None, options), prior.code_index)  # no context
    x = np.asarray(x, dtype=np.float64).reshape(len(y), -1) if len(y) else np.zeros((0, prior.vectors.shape[1]))
    y = np.asarray(y, dtype=np.float64).reshape(len(x), len(code_ids))
    n_codes = len(code_ids)
    pos = np.nansum(y == 1, axis=0).astype(int)
    neg = np.nansum(y == 0, axis=0).astype(int)
    labelled = ~np.isnan(y)
    coded_rows = labelled.all(axis=1)
    # single-label: one code for every unit unless people left some units they read without a code
    always_one = bool(options.single and (y[coded_rows].sum(axis=1) == 1).all())
    platt = np.full((n_codes, 2), np.nan)
    stats = [CodeStats(code_ids[j], int(pos[j]), int(neg[j])) for j in range(n_codes)]
    cv: dict[str, float | None] = {}
    can_cv = (pos >= MIN_CALIBRATION) & (neg >= MIN_CALIBRATION)
    if cross_validate and can_cv.any():
        oof = np.full(y.shape, np.nan)
        for train, test in _folds(y, options):
            fitted = _fit(x[train], y[train], prior, options)
            d = fitted.decision(x[test])
            oof[test] = np.where(np.isnan(fitted.constant), d, np.where(fitted.constant >= 0.5, 10.0, -10.0))
        for j in np.flatnonzero(can_cv):
            known = labelled[:, j] & ~np.isnan(oof[:, j])
            yj, dj = y[known, j], oof[known, j]
            if yj.min() == yj.max():
                continue
            platt[j] = _platt(dj, yj)
            predicted = dj > 0
            tp = int((predicted & (yj == 1)).sum())
            stats[j].calibrated = True
            stats[j].precision = round(tp / predicted.sum(), 4) if predicted.sum() else None
            stats[j].recall = round(tp / (yj == 1).sum(), 4)
            stats[j].kappa = _kappa(yj.astype(int), predicted.astype(int))
        macro = [s.kappa for s in stats if s.kappa is not None]
        cv["kappa_macro"] = round(float(np.mean(macro)), 4) if macro else None
        cv["codes_with_cv"] = float(len(macro))
        if options.single and coded_rows.sum() >= 2 and not np.isnan(oof[coded_rows]).any():
            chosen = oof[coded_rows].argmax(axis=1)
            truth = np.where(y[coded_rows].sum(axis=1) > 0, y[coded_rows].argmax(axis=1), -1)
            cv["single_accuracy"] = round(float((chosen == truth).mean()), 4)
    final = _fit(x, y, prior, options)
    zs = zero_shot(prior, n_codes, 1 if options.single else options.top_k) if options.prior_strength > 0 else None
    weight = None
    if zs is not None:
        evidence = pos + neg / n_codes
        weight = evidence / (evidence + options.prior_strength)
        for stat, w in zip(stats, weight.tolist(), strict=True):
            stat.weight = round(float(w), 4)
    return LearnedModel(list(code_ids), options, final, platt, always_one, stats, cv, zs, weight)


def _kappa(truth: np.ndarray, predicted: np.ndarray) -> float | None:
    if len(set(truth.tolist()) | set(predicted.tolist())) < 2:
        return None
    value = float(cohen_kappa_score(truth, predicted))
    return round(value, 4) if np.isfinite(value) else None
