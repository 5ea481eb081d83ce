"""Dedup: code normalisation, MinHash LSH, perceptual-hash Hamming index, and their fusion (see ``fuse``)."""
