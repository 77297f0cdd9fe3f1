"""alt_attention — three low-priority mechanism papers, each reduced to its one testable mechanism
claim on a toy problem, in one table of three blocks: GAAM (Gaussian adaptive attention, arXiv
2401.11143), RCMHA (relative convolutional attention, arXiv 2308.03429), LightNet (one-scan
additive-decay linear attention, arXiv 2405.21022)."""

PAPER = "GAAM (2401.11143), RCMHA (2308.03429), LightNet (2405.21022): one toy table"
