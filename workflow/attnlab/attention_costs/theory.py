"""The cost exponents theory predicts for each mechanism, as published and as implemented here.

time: exponent of forward time in the sequence length L; memory: of the activations saved for the
backward pass. Where our implementation is a dense emulation of a sparse mechanism, its own
exponent is 2 and the table says why."""

DENSE_EMULATION = "a dense emulation here: every score is computed, then masked"
MECHANISMS = {
    # name: attention, options, (time exponent of the mechanism, of our implementation), memory exponent, note
    "dense_sdpa": ("dense_sdpa", {}, (2.0, 2.0), 1.0,
                   "torch's fused causal scaled_dot_product_attention (flash kernel: scores never stored)"),
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
