"""Seedance: an open implementation of the Seedance 1.0 video generation system.

Subpackages: `seedance.model` (networks, sampler, in-process pipeline), `seedance.kernels`,
`seedance.services`, `seedance.training`, `seedance.protos`, and `seedance.cli`.
"""

__version__ = "0.1.0"
