"""distributed_attention — exact attention split over processes (head-parallel, ring, Ulysses),
its memory and communication laws measured under torch.distributed (arXiv 2302.06218)."""

PAPER = ("A unified view of long-sequence models towards modeling million-scale dependencies "
         "(Hè & Kabic, arXiv 2302.06218)")
