"""IR-Diffusion (arXiv 2411.19261): isolation and reposition attention for multi-subject
consistency, on the image world's 1-, 2- and 3-subject cases."""

PAPER = "IR-Diffusion (arXiv 2411.19261)"
VARIANTS = {
    "vanilla": None,
    "share": {"share": True, "isolate": False, "reposition": False},
    "share_isolate": {"share": True, "isolate": True, "reposition": False},
    "share_reposition": {"share": True, "isolate": False, "reposition": True},
    "full": {"share": True, "isolate": True, "reposition": True},
}
