"""cab: CAB's four attention patterns, efficient attentions against vanilla per pattern
(arXiv 2210.07661; spec shared/papers/cab.md). No torch at import: plan.py reads this at parse time.

Patterns: NS (noncausal self: encoder-only masked-token recovery), CS (causal self: decoder-only
next-token LM), NC (noncausal cross: encoder–decoder lookup, the decoder's queries all at once),
CC (causal cross: encoder–decoder reversal, teacher-forced). Each efficient attention replaces
vanilla only in the pattern under test: self-attention in NS and CS, cross-attention in NC and CC.
"""

PAPER = "CAB: Comprehensive Attention Benchmarking on Long Sequence Modeling (Zhang et al., ICML 2023, arXiv 2210.07661)"
PATTERNS = ("ns", "cs", "nc", "cc")
PATTERN_NAMES = {"ns": "NS (noncausal self)", "cs": "CS (causal self)", "nc": "NC (noncausal cross)",
                 "cc": "CC (causal cross)"}
EFFICIENT = ("local", "performer", "abc")
MECHANISMS = ("vanilla", *EFFICIENT)
# CAB's support table (efficient-attention/README.md) for the mini set; Performer is disabled in CS
# ("causal leakage" in CAB's implementation) and local attention is self-attention only
SUPPORT = {"ns": ("vanilla", "local", "performer", "abc"), "cs": ("vanilla", "local", "abc"),
           "nc": ("vanilla", "performer", "abc"), "cc": ("vanilla", "performer", "abc")}
CAUSAL = {"ns": False, "cs": True, "nc": False, "cc": True}

# CAB README leaderboard (2022-11-16): compositional index; Δ = efficient − vanilla. CS: averages
# (vanilla has none there).
PAPER_DELTA = {
    "ns": {"local": "+1.002", "performer": "−0.261", "abc": "−0.662", "vanilla": "−0.024 (CI)"},
    "cs": {"local": "avg −0.239", "abc": "avg −0.623", "vanilla": "—"},
    "nc": {"performer": "−0.582", "abc": "−0.392", "vanilla": "0.596 (CI)"},
    "cc": {"performer": "−1.970", "abc": "−0.898", "vanilla": "0.956 (CI)"},
}
PAPER_EFFICIENCY_LENGTH = {"abc": "1,877", "performer": "2,361", "local": "4,195"}  # running time, tokens (GPU)


def attention_spec(mechanism: str, pattern: str, cfg: dict, feature_seed: int) -> tuple[str, dict]:
    """(attnlab.attention mechanism, options) of a CAB mechanism in a pattern. Local window w:
    causal keys i−w+1..i (sliding_window with window w), noncausal keys i−w..i+w (window w+1)."""
    if mechanism == "vanilla":
        return "softmax", {}
    if mechanism == "local":
        w = cfg["local_window"]
        return "sliding_window", {"window": w if CAUSAL[pattern] else w + 1}
    if mechanism == "performer":
        return "performer", {"features": cfg["performer_features"], "feature_seed": feature_seed}
    if mechanism == "abc":
        return "abc", {"slots": cfg["abc_slots"]}
    raise ValueError(f"unknown cab mechanism {mechanism!r} (choose from {MECHANISMS})")
