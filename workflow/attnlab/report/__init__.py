"""Cross-experiment outputs: the gathered claims table."""
