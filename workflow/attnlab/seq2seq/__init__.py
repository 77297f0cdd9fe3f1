"""The attnlab encoder–decoder family: a bidirectional encoder, a decoder with cross-attention, and
an encoder-only masked LM, every attention one of `attnlab.attention`'s mechanisms."""
