"""Token ids shared by every synthetic task: eight special tokens, then each task's content tokens.

A task draws its content tokens from FIRST upward, in ranges it documents; its `vocab_size(**params)`
says how many ids a model needs. Data files hold one sequence per row: `input_ids` (list of int) and
`target_mask` (list of bool: True where the token is a prediction target, predicted from the
position before it), plus the task's metadata columns.
"""

PAD, BOS, SEP, QUERY, KEY, VAL, META, EOS = range(8)
FIRST = 8
SPECIALS = {"PAD": PAD, "BOS": BOS, "SEP": SEP, "QUERY": QUERY, "KEY": KEY, "VAL": VAL, "META": META, "EOS": EOS}
