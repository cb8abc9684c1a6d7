"""Triton implementations of the fused DiT ops, one module per op.

Every module here imports triton at import time; seedance.kernels imports them lazily, only when
the dispatcher picks the Triton backend, so machines without triton never load them.
"""
