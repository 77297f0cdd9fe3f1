"""attnlab: regenerate the tables and claims of papers on attention mechanisms.

Importing the package is cheap (no torch): the Snakefile imports it at parse time.
Model classes register with the transformers Auto classes (`attnlab.models`) as soon as those are
imported, so `import attnlab` is enough to load a run directory with `AutoModel.from_pretrained`.
"""

import os
import sys

__version__ = "0.1.0"

# A step run as `python -m attnlab...` defaults to one BLAS/OpenMP thread (fastest on small
# CPUs, see the README), set here because numpy reads it when first imported. Snakemake sets it
# from each rule's `threads`; an explicit OMP_NUM_THREADS always wins.
if sys.argv[:1] == ["-m"]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")


class AttnlabError(Exception):
    """An error a user can fix: a bad config key, a missing or corrupt file, a wrong path."""


from attnlab.autoregister import register_models_with_transformers  # noqa: E402  (no torch)

register_models_with_transformers()
