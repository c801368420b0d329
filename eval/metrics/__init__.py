"""Inter-coder agreement metrics for pre-coded qualitative data.

Compares coders (the LLM pre-coder and one or more human coders) who each marked, for
every unit (a transcript segment), which codes of a codebook apply. Written in the style
of ``sklearn.metrics``: small vectorized numpy functions, each with its formula and a
reference, plus one top-level entry point, :func:`agreement_table`, that computes
everything for all codes at once and returns pydantic models ready to serialize.

Data model
----------
Multi-label (code presence) schemes
    ``presence``: array of shape ``(n_coders, n_units, n_codes)`` with values 1 (the coder
    applied the code to the unit) and 0 (did not). Missing data, i.e. a unit a coder did
    not see, is a whole coder x unit row and is given either by

    * ``observed``: boolean array ``(n_coders, n_units)``, False = not seen, or
    * a float ``presence`` with NaN in every code of that coder x unit row (a row with NaN
      in only some codes is rejected: missingness is per unit, not per code).

    Both may be given; a row is observed if both say so. Values in unobserved rows are
    ignored. Every code is treated as its own binary (present/absent) variable.
Single-label schemes
    ``labels``: integer array ``(n_coders, n_units)`` of category indices in
    ``[0, n_categories)``; a negative value, NaN, or ``observed == False`` marks missing.
    :func:`encode_labels` turns lists of arbitrary labels into this form.

Two-coder statistics (kappa, Po, Pe, PABAK, AC1, pairwise alpha, P/R/F1) use the units
*both* coders saw. With more than two coders they are computed for every pair, keyed
``"A|B"`` (coder order as given); Fleiss' kappa and Krippendorff's alpha are also computed
across all coders.

2x2 table for one code and two coders A (rows) and B (columns)::

                B = 1   B = 0
        A = 1     a       b
        A = 0     c       d          n = a + b + c + d

Against a gold coder G and a predicting coder P: TP = both 1, FP = P 1 and G 0, FN = P 0
and G 1 (so FP = b, FN = c when B is gold, and FP = c, FN = b when A is gold).

Undefined values (the choices this module makes)
------------------------------------------------
A statistic whose formula divides by zero is *undefined*; it is never replaced by 0 or 1.
Internally it is ``float('nan')``; in the result models the float field holds NaN (which
pydantic serializes to JSON ``null``) and ``undefined_reasons[<field>]`` says why, e.g.
``"Pe = 1: ..."``. Nothing raises on degenerate data; ``ValueError`` is raised only for
malformed input (wrong shapes, values other than 0/1, unknown gold coder).

* **No shared units** (n = 0, including zero units overall): every two-coder statistic,
  Po included, is undefined ("no units coded by both ...").
* **Cohen's kappa, Pe = 1**: both coders constant *and equal* (the code absent from every
  unit -- a code neither coder used -- or present in every unit). Kappa is 0/0 and
  undefined; Po (= 1.0), PABAK (= 1.0) and AC1 (= 1.0) remain defined and are reported.
* **One coder constant, the other not**: kappa is defined and is exactly 0 (Pe = Po).
  This is reported as 0 with a ``notes["kappa"]`` explaining why, because it says nothing
  about how well the coders agree.
* **Both constant but opposite** (A always 1, B always 0): Pe = 0, Po = 0, kappa = 0.
* **Krippendorff's alpha**: units with fewer than two observed values are not pairable
  and are dropped (Krippendorff 2011). Alpha is undefined when the expected disagreement
  De = 0, i.e. the pairable values contain only one category (or there are none).
* **Fleiss' kappa**: uses units seen by *all* coders; undefined when there are none or
  when all their ratings fall in one category (Pe = 1); needs at least 2 coders.
* **Gwet's AC1 / PABAK**: undefined only when n = 0 (AC1's Pe <= 1/2 for two categories).
  Multi-category AC1 also needs at least two declared categories.
* **Precision** undefined when the predicting coder never marked the code (TP + FP = 0);
  **recall** when the gold coder never did (TP + FN = 0); **F1** = 2TP / (2TP + FP + FN)
  when neither did (TP + FP + FN = 0). Precision/recall/F1 are ``None`` (not applicable,
  no reason) on pairs that do not include the gold coder, or when no gold is given.
* **Macro averages** are means over the codes on which the statistic is defined; the
  number of such codes is reported (``n_kappa_defined`` etc.) and the macro value is
  undefined if no code qualifies. **Micro** statistics are computed from the 2x2 table
  (or sums) pooled over all codes, i.e. treating every unit x code cell as an item.
* **Bootstrap CIs**: percentile intervals over replicates that resample units; replicates
  on which a statistic is undefined are excluded and the count is put in ``notes``
  (``"ci.kappa"``). The CI is ``None`` when the point estimate is undefined or no
  replicate is defined. See :mod:`eval.bootstrap`.
* **Prevalence paradox** (Feinstein & Cicchetti 1990): when Po >= 0.85, kappa <= 0.40 and
  the mean prevalence is <= 0.15 or >= 0.85, ``notes["kappa"]`` flags it and points to
  AC1/PABAK.

References
----------
* Cohen, J. (1960). A coefficient of agreement for nominal scales. *Educational and
  Psychological Measurement*, 20(1), 37-46.
* Scott, W. A. (1955). Reliability of content analysis: the case of nominal scale
  coding. *Public Opinion Quarterly*, 19(3), 321-325.
* Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters.
  *Psychological Bulletin*, 76(5), 378-382.
* Landis, J. R., & Koch, G. G. (1977). The measurement of observer agreement for
  categorical data. *Biometrics*, 33(1), 159-174.
* Feinstein, A. R., & Cicchetti, D. V. (1990). High agreement but low kappa: I. The
  problems of two paradoxes. *Journal of Clinical Epidemiology*, 43(6), 543-549.
* Byrt, T., Bishop, J., & Carlin, J. B. (1993). Bias, prevalence and kappa. *Journal of
  Clinical Epidemiology*, 46(5), 423-429.
* Gwet, K. L. (2008). Computing inter-rater reliability and its variance in the presence
  of high agreement. *British Journal of Mathematical and Statistical Psychology*, 61(1),
  29-48.
* Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability. Annenberg School
  for Communication, University of Pennsylvania. https://repository.upenn.edu/asc_papers/43
* Efron, B., & Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*. Chapman & Hall.


Package layout: :mod:`~eval.metrics.formulas` (each statistic's formula and reference, on counts
and sums), :mod:`~eval.metrics.registry` (the metrics computed per code, pair and overall: add a
metric there), :mod:`~eval.metrics.features` (per-unit features and the bootstrap driver),
:mod:`~eval.metrics.models` (result models), :mod:`~eval.metrics.table` (table assembly:
:func:`agreement_table`, :func:`categorical_agreement`) and :mod:`~eval.metrics.arrays` (single
statistics on arrays).
"""

from __future__ import annotations

from eval.metrics.arrays import (
    cohen_kappa,
    confusion_matrix_nominal,
    fleiss_kappa_binary,
    fleiss_kappa_nominal,
    generalized_agreement_nominal,
    krippendorff_alpha_binary,
    krippendorff_alpha_nominal,
    multi_rater_nominal,
    weighted_multi_rater,
)
from eval.metrics.formulas import (
    PAIR_SEP,
    _generalized_binary_from_sums,
    _multi_rater_binary_from_sums,
    ac1_from_confusion,
    ac1_from_counts,
    ac2_from_confusion,
    alpha_from_counts,
    bias_index_from_counts,
    binary_counts,
    brennan_prediger,
    encode_labels,
    kappa_from_confusion,
    kappa_from_counts,
    landis_koch,
    ordinal_weights,
    pabak_from_counts,
    pair_key,
    prevalence_index_from_counts,
    prf_from_counts,
    scott_pi_from_confusion,
    scott_pi_from_counts,
    validate_labels,
    validate_presence,
    weighted_kappa_from_confusion,
)
from eval.metrics.models import (
    CI,
    AgreementResult,
    BinaryAgreement,
    CategoricalAgreement,
    CategoricalMultiAgreement,
    CategoricalResult,
    Counts,
    MultiCoderAgreement,
    MultiCoderOverall,
    MultiCoderResult,
    OverallAgreement,
    PairAgreement,
)
from eval.metrics.registry import MULTI_METRICS, PAIR_METRICS, MultiMetric, PairMetric
from eval.metrics.table import agreement_table, categorical_agreement

__all__ = [
    "CI",
    "MULTI_METRICS",
    "PAIR_METRICS",
    "PAIR_SEP",
    "AgreementResult",
    "BinaryAgreement",
    "CategoricalAgreement",
    "CategoricalMultiAgreement",
    "CategoricalResult",
    "Counts",
    "MultiCoderAgreement",
    "MultiCoderOverall",
    "MultiCoderResult",
    "MultiMetric",
    "OverallAgreement",
    "PairAgreement",
    "PairMetric",
    "_generalized_binary_from_sums",
    "_multi_rater_binary_from_sums",
    "ac1_from_confusion",
    "ac1_from_counts",
    "agreement_table",
    "alpha_from_counts",
    "binary_counts",
    "categorical_agreement",
    "cohen_kappa",
    "confusion_matrix_nominal",
    "encode_labels",
    "fleiss_kappa_binary",
    "fleiss_kappa_nominal",
    "generalized_agreement_nominal",
    "weighted_multi_rater",
    "kappa_from_confusion",
    "kappa_from_counts",
    "krippendorff_alpha_binary",
    "krippendorff_alpha_nominal",
    "ac2_from_confusion",
    "bias_index_from_counts",
    "ordinal_weights",
    "weighted_kappa_from_confusion",
    "brennan_prediger",
    "landis_koch",
    "multi_rater_nominal",
    "pabak_from_counts",
    "prevalence_index_from_counts",
    "scott_pi_from_confusion",
    "scott_pi_from_counts",
    "pair_key",
    "prf_from_counts",
    "validate_labels",
    "validate_presence",
]
