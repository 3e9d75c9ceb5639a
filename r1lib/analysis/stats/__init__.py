"""Measurement-validity statistics: intervals, paired tests, comparisons with published values, the
thinking × answer table, outcome accounting and judge validation. Pure functions over numpy, pandas
and scipy; no files, no models.
"""

from r1lib.analysis.stats.agreement import (
                                   Agreement,
                                   accuracy_by_length,
                                   agreement,
                                   fleiss_kappa,
                                   krippendorff_alpha_nominal,
                                   rogan_gladen,
                                   rogan_gladen_ci,
                                   sensitivity_specificity,
)
from r1lib.analysis.stats.channels import ThinkingAnswerTable, thinking_answer_table
from r1lib.analysis.stats.compare import (
                                   adjust_family,
                                   compare_cells,
                                   deviating,
                                   fisher_exact_p,
                                   mean_difference,
                                   rate_difference,
)
from r1lib.analysis.stats.intervals import (
                                   Estimate,
                                   RateSummary,
                                   bootstrap_mean_ci,
                                   conditional_mean,
                                   rate_summary,
                                   stratified_rate_ci,
                                   wilson_interval,
)
from r1lib.analysis.stats.outcomes import (
                                   OUTCOMES,
                                   SafetyRate,
                                   classify_outcomes,
                                   outcome_counts,
                                   safety_rate,
                                   safety_table,
)
from r1lib.analysis.stats.paired import (
                                   McNemarResult,
                                   align_pairs,
                                   claims_table,
                                   cluster_sign_flip_p,
                                   holm,
                                   mcnemar_exact,
                                   paired_bootstrap_diff,
)
from r1lib.analysis.stats.samples import (
                                   ClusteredRate,
                                   SamplesAtK,
                                   clustered_rate,
                                   prompt_summary,
                                   samples_at_k,
                                   wilson_bounds,
)

__all__ = [
    "Agreement", "ClusteredRate", "Estimate", "McNemarResult", "OUTCOMES", "RateSummary", "SafetyRate",
    "SamplesAtK", "ThinkingAnswerTable", "accuracy_by_length", "adjust_family", "agreement", "align_pairs",
    "bootstrap_mean_ci", "claims_table", "classify_outcomes", "cluster_sign_flip_p", "clustered_rate",
    "compare_cells", "conditional_mean", "deviating", "fisher_exact_p", "fleiss_kappa", "holm",
    "krippendorff_alpha_nominal", "mcnemar_exact", "mean_difference", "outcome_counts", "paired_bootstrap_diff",
    "prompt_summary", "rate_difference", "rate_summary", "rogan_gladen", "rogan_gladen_ci", "safety_rate",
    "safety_table", "samples_at_k", "sensitivity_specificity", "stratified_rate_ci", "thinking_answer_table",
    "wilson_bounds", "wilson_interval",
]
