"""random_features — what a single attention layer with frozen random query-key matrices can
learn, against a random-feature MLP (arXiv 2307.11353)."""

PAPER = ("What can a Single Attention Layer Learn? A Study Through the Random Features Lens "
         "(arXiv 2307.11353)")
