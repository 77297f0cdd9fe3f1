"""attnlab: regenerate the tables and claims of papers on attention mechanisms.

Importing the package is cheap (no torch): the Snakefile imports it at parse time.
Model classes register with the transformers Auto classes when `attnlab.models` is imported.
"""

__version__ = "0.1.0"


class AttnlabError(Exception):
    """An error a user can fix: a bad config key, a missing or corrupt file, a wrong path."""
