"""Result models of the agreement computations (pydantic; NaN = undefined, serialized as null)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from eval.metrics.formulas import pair_key

# --------------------------------------------------------------------------------------
# result models
# --------------------------------------------------------------------------------------

CI = tuple[float, float] | None


class _Model(BaseModel):
    # NaN (undefined) -> JSON null; the reason is in undefined_reasons.
    model_config = ConfigDict(ser_json_inf_nan="null")


class _Statistics(_Model):
    """A result that also carries every statistic registered in :mod:`eval.metrics.registry`
    (those without a typed field here are kept as extra fields and serialized alike)."""

    model_config = ConfigDict(ser_json_inf_nan="null", extra="allow")


class Counts(_Model):
    """2x2 table: a = both coders 1, b = coder_a 1 & coder_b 0, c = coder_a 0 & coder_b 1,
    d = both 0."""

    a: int
    b: int
    c: int
    d: int


class BinaryAgreement(_Statistics):
    """Agreement of two coders on one code (binary presence per unit).

    Float fields are NaN when undefined, with the reason in ``undefined_reasons``;
    ``precision``/``recall``/``f1`` are None when the pair does not include the gold coder.
    """

    code_id: str
    coder_a: str
    coder_b: str
    n_units: int = Field(description="units seen by both coders (= a+b+c+d)")
    counts: Counts
    prevalence: dict[str, float] = Field(description="share of units each coder marked")
    prevalence_mean: float
    po: float
    pe: float = Field(description="Cohen's chance agreement p_A p_B + (1-p_A)(1-p_B)")
    kappa: float
    kappa_label: str = Field(description="Landis & Koch (1977) band of kappa")
    pabak: float
    ac1: float
    pe_ac1: float
    alpha: float
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    ci: dict[str, CI] = Field(default_factory=dict)
    undefined_reasons: dict[str, str] = Field(default_factory=dict)
    notes: dict[str, str] = Field(default_factory=dict)


class OverallAgreement(_Statistics):
    """Agreement of two coders over all codes.

    ``*_macro`` = mean over codes where defined (``n_*_defined`` of ``n_codes``);
    ``*_micro`` = statistic of the 2x2 table pooled over all codes (``counts``).
    """

    coder_a: str
    coder_b: str
    n_codes: int
    n_units: int
    counts: Counts
    kappa_macro: float
    n_kappa_defined: int
    kappa_micro: float
    po_micro: float
    pe_micro: float
    pabak_micro: float
    ac1_micro: float
    alpha_micro: float
    po_macro: float
    n_po_defined: int
    pabak_macro: float
    n_pabak_defined: int
    ac1_macro: float
    n_ac1_defined: int
    alpha_macro: float
    n_alpha_defined: int
    precision_micro: float | None = None
    recall_micro: float | None = None
    f1_micro: float | None = None
    precision_macro: float | None = None
    n_precision_defined: int | None = None
    recall_macro: float | None = None
    n_recall_defined: int | None = None
    f1_macro: float | None = None
    n_f1_defined: int | None = None
    ci: dict[str, CI] = Field(default_factory=dict)
    undefined_reasons: dict[str, str] = Field(default_factory=dict)
    notes: dict[str, str] = Field(default_factory=dict)


class PairAgreement(_Model):
    """Everything for one pair of coders: per code and overall."""

    coder_a: str
    coder_b: str
    gold: str | None = Field(None, description="the gold coder if in this pair")
    predicted: str | None = Field(None, description="the other coder when gold is in the pair")
    per_code: dict[str, BinaryAgreement]
    overall: OverallAgreement


class MultiCoderAgreement(_Statistics):
    """All coders on one code: Fleiss' kappa and Krippendorff's alpha.

    ``po``, ``pe``, ``pabak`` and ``ac1`` are their multi-rater forms over the units seen by
    every coder: mean pairwise agreement P_bar, Fleiss' chance term, 2 P_bar - 1 and Gwet's
    multi-rater AC1 (see :func:`_multi_rater_binary_from_sums`).
    """

    code_id: str
    n_coders: int
    n_units_fleiss: int = Field(description="units seen by every coder")
    n_units_alpha: int = Field(description="pairable units (seen by >= 2 coders)")
    prevalence: dict[str, float]
    prevalence_mean: float
    fleiss_kappa: float
    fleiss_kappa_label: str
    alpha: float
    po: float = Field(description="mean pairwise observed agreement P_bar (units seen by all)")
    pe: float = Field(description="Fleiss' chance agreement p_1^2 + (1-p_1)^2")
    pabak: float = Field(description="2 P_bar - 1")
    ac1: float = Field(description="Gwet's multi-rater AC1")
    gen_fleiss_kappa: float = Field(description="Fleiss' kappa, Gwet's generalised form (units rated by >= 2 coders)")
    gen_fleiss_kappa_label: str
    gen_ac1: float = Field(description="multi-rater AC1, Gwet's generalised form (units rated by >= 2 coders)")
    gen_po: float = Field(description="generalised Pa: mean pairwise agreement over units rated by >= 2 coders")
    gen_pe: float = Field(description="generalised Fleiss chance agreement")
    ci: dict[str, CI] = Field(default_factory=dict)
    undefined_reasons: dict[str, str] = Field(default_factory=dict)
    notes: dict[str, str] = Field(default_factory=dict)


class MultiCoderOverall(_Statistics):
    """All coders over all codes (macro = mean over defined codes, micro = pooled)."""

    n_coders: int
    n_codes: int
    fleiss_kappa_macro: float
    n_fleiss_kappa_defined: int
    fleiss_kappa_micro: float
    alpha_macro: float
    n_alpha_defined: int
    alpha_micro: float
    gen_fleiss_kappa_macro: float
    n_gen_fleiss_kappa_defined: int
    gen_fleiss_kappa_micro: float
    gen_ac1_macro: float
    n_gen_ac1_defined: int
    gen_ac1_micro: float
    ci: dict[str, CI] = Field(default_factory=dict)
    undefined_reasons: dict[str, str] = Field(default_factory=dict)
    notes: dict[str, str] = Field(default_factory=dict)


class MultiCoderResult(_Model):
    per_code: dict[str, MultiCoderAgreement]
    overall: MultiCoderOverall


class AgreementResult(_Model):
    """Result of :func:`agreement_table`.

    ``pairs`` holds every coder pair (one when there are two coders); ``multi`` the
    all-coder statistics when there are three or more. The properties ``per_code`` and
    ``overall`` are shortcuts to the single pair when there are exactly two coders.
    """

    coders: list[str]
    codes: list[str]
    gold: str | None
    n_units: int
    bootstrap: int
    seed: int | None
    confidence: float
    pairs: dict[str, PairAgreement]
    multi: MultiCoderResult | None = None

    def _single_pair(self) -> PairAgreement:
        if len(self.pairs) != 1:
            raise AttributeError("per_code/overall shortcuts need exactly two coders; use .pairs")
        return next(iter(self.pairs.values()))

    @property
    def per_code(self) -> dict[str, BinaryAgreement]:
        return self._single_pair().per_code

    @property
    def overall(self) -> OverallAgreement:
        return self._single_pair().overall

    def pair(self, coder_a: str, coder_b: str) -> PairAgreement:
        """The pair result for two coders, in either order."""
        key = pair_key(coder_a, coder_b)
        return self.pairs[key] if key in self.pairs else self.pairs[pair_key(coder_b, coder_a)]


class CategoricalAgreement(_Model):
    """Two coders on a single-label (one category per unit) scheme."""

    coder_a: str
    coder_b: str
    categories: list[str]
    n_units: int
    confusion: list[list[int]] = Field(description="rows coder_a, columns coder_b")
    po: float
    pe: float
    kappa: float
    kappa_label: str
    ac1: float
    pe_ac1: float
    alpha: float
    ci: dict[str, CI] = Field(default_factory=dict)
    undefined_reasons: dict[str, str] = Field(default_factory=dict)
    notes: dict[str, str] = Field(default_factory=dict)


class CategoricalMultiAgreement(_Model):
    n_coders: int
    n_units_fleiss: int
    n_units_alpha: int
    fleiss_kappa: float
    fleiss_kappa_label: str
    gen_fleiss_kappa: float = Field(description="Gwet's generalised form (units rated by >= 2 coders)")
    gen_fleiss_kappa_label: str
    gen_ac1: float = Field(description="multi-rater AC1, Gwet's generalised form")
    alpha: float
    ci: dict[str, CI] = Field(default_factory=dict)
    undefined_reasons: dict[str, str] = Field(default_factory=dict)
    notes: dict[str, str] = Field(default_factory=dict)


class CategoricalResult(_Model):
    coders: list[str]
    categories: list[str]
    n_units: int
    bootstrap: int
    seed: int | None
    confidence: float
    pairs: dict[str, CategoricalAgreement]
    multi: CategoricalMultiAgreement | None = None


