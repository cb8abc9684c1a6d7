"""The source checkout's top-level folders are importable only as seedance.* (DESIGN.md, layout)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_importing_seedance_drops_the_checkout_from_sys_path():
    """With the checkout on sys.path (python -m from the root, a Ray worker) its kernels/ would
    shadow Hugging Face's `kernels`, which transformers imports when it builds a model."""
    code = ("import sys, importlib.util; sys.path.insert(0, sys.argv[1]); import seedance; "
            "print(sys.argv[1] in sys.path, importlib.util.find_spec('seedance.kernels').origin)")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, check=True, cwd=ROOT)
    on_path, origin = out.stdout.split()
    assert on_path == "False"
    assert Path(origin) == ROOT / "kernels" / "__init__.py"  # seedance.kernels still maps to the folder
    spec = subprocess.run([sys.executable, "-c", "import seedance, importlib.util as u; s = u.find_spec('kernels'); "
                           "print(s.origin if s else None)"], capture_output=True, text=True, check=True, cwd=ROOT)
    assert spec.stdout.strip() != str(ROOT / "kernels" / "__init__.py")  # a top-level `kernels` is never ours
