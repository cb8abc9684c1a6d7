"""Seedance: an open implementation of the Seedance 1.0 video generation system.

Subpackages: `seedance.model` (networks, sampler, in-process pipeline), `seedance.kernels`,
`seedance.services`, `seedance.training`, `seedance.protos`, and `seedance.cli`.
"""

import sys as _sys
from pathlib import Path as _Path

__version__ = "0.1.0"

# The source checkout's top-level folders are importable only as seedance.* (setup.py maps them).
# With the checkout itself on sys.path they would shadow real packages of the same name: kernels/
# hides Hugging Face's `kernels`, which transformers >= 5 imports when it builds a model, and the
# import fails. The checkout lands there through `python -m` (the current directory) and Ray,
# which adds the driver's working directory to every worker's path. Every process that runs our
# code imports this package first, so drop the checkout here, before anything loads transformers.
_CHECKOUT = _Path(__file__).resolve().parent.parent
if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "kernels").is_dir():
    _sys.path[:] = [p for p in _sys.path if _Path(p or ".").resolve() != _CHECKOUT]
