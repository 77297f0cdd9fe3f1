"""The cost exponents theory predicts for each mechanism, as published and as implemented here.

time: exponent of forward time in the sequence length L; memory: of the activations saved for the
backward pass. Where our implementation is a dense emulation of a sparse mechanism, its own
exponent is 2 and the table says why.

An asymptotic exponent is only what a sweep over finite lengths approaches. What the sweep should
measure is the log-log slope of the implementation's cost model over the sweep's own lengths
(`attention_costs.cost_model.exponent_at`): the layer's projections (8·L·d² multiply-adds x 2, linear in L) beside its
attention, and for torch's fused causal SDPA on CPU the share of the L² work its flash kernel
actually computes (`cost_model.causal_flash_fraction`: it skips key blocks above the diagonal, a share that
falls from 1 at L ≤ 512 towards ½). Mechanisms with an explicit T x T pattern also make memory-bound
passes over it (softmax, masks, exp), whose per-element cost rises once the pattern leaves the cache:
the sweep measures one such pass (`explicit_pass`) as the second instrument, and their measured
exponent may lie anywhere between the FLOP model's and that pass's."""

DENSE_EMULATION = "a dense emulation here: every score is computed, then masked"
MECHANISMS = {
    # name: attention, options, (time exponent of the mechanism, of our implementation), memory exponent, note
    "dense_sdpa": ("dense_sdpa", {}, (2.0, 2.0), 1.0,
                   "the instrument: torch's fused scaled_dot_product_attention without a mask (flash kernel, "
                   "scores never stored; every block computed: exactly L² work)"),
    "dense_sdpa_causal": ("dense_sdpa_causal", {}, (2.0, 2.0), 1.0,
                          "the same kernel, causal: it skips the key blocks above the diagonal"),
    "softmax": ("softmax", {}, (2.0, 2.0), 1.0, "the layer around the fused kernel (projections are O(L))"),
    "sigmoid": ("sigmoid", {}, (2.0, 2.0), 2.0, "explicit T x T pattern (no fused sigmoid kernel)"),
    "sliding_window": ("sliding_window", {"window": 64}, (1.0, 2.0), 2.0, f"window 64; {DENSE_EMULATION}"),
    "moh": ("moh", {"shared_heads": 1, "active_heads": 2}, (2.0, 2.0), 1.0,
            "head gating is O(L); attention through the fused kernel"),
    "meta": ("meta", {"meta_token_id": 15}, (2.0, 2.0), 2.0,
             "causal part fused; meta-attention explicit over all pairs, then masked"),
    "dynamic_mask": ("dynamic_mask", {"window": 64}, (1.0, 2.0), 2.0,
                     f"top-64 keys per query; {DENSE_EMULATION} (the paper's kernel skips them)"),
    "superlinear": ("superlinear", {"span": None, "top_k": 2, "impl": "gathered"}, (1.5, 1.5), 1.5,
                    "span search, b = round(√L), k = 2: the gathered implementation (its training form is a "
                    "dense masked emulation, L²); per query L/b span scores + 3b keys, gathered copies of the "
                    "kept spans' keys and values are saved for backward"),
    "grassmann": ("grassmann", {"rank": 16}, (1.0, 1.0), 1.0,
                  "attention-free Plücker mixer, r = 16, offsets {1, 2, 4, 8, 12, 16}: O(L) for fixed r"),
    "lightnet": ("lightnet", {}, (1.0, 1.0), 1.0, "additive-decay linear attention, chunked scan (chunk 64)"),
    "decay": ("decay", {}, (1.0, 1.0), 1.0, "multiplicative-decay linear attention, one chunked scan (chunk 64)"),
    "rcmha": ("rcmha", {}, (2.0, 2.0), 2.0, "explicit T x T pattern plus the relative-distance table"),
    # gaam is not swept: its weights are per (query, key, feature), O(L²·d) memory (17 GB at L = 4096, d = 256)
}

# instruments: timed like the mechanisms, no layer around them (measure.call_for builds them)
INSTRUMENTS = ("dense_sdpa", "dense_sdpa_causal", "explicit_pass", "gather_pass")
# the memory-bound passes, with the exponent of the bytes autograd saves for one of them
PASSES = {
    "explicit_pass": (2.0, "one softmax over an explicit (heads, L, L) float32 pattern: the memory-bound pass every "
                           "explicit-pattern mechanism makes (several times)"),
    "gather_pass": (1.0, "one index_select of k = 2 spans of b = round(√L) keys per query and head (L^1.5·d bytes "
                         "copied): the memory-bound gather the superlinear implementation makes for keys and values"),
}


def explicit_pattern(mechanism: str) -> bool:
    """Whether the implementation materialises a T x T pattern (its saved activations grow as L²)."""
    return MECHANISMS[mechanism][3] >= 2.0


def memory_bound_pass(mechanism: str) -> str | None:
    """The instrument timing the memory-bound pass that may slow this mechanism beyond its FLOP model."""
    if mechanism in MECHANISMS and explicit_pattern(mechanism):
        return "explicit_pass"
    return "gather_pass" if mechanism == "superlinear" else None
