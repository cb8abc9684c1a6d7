"""Package layout: one import root, `seedance`, whose subpackages live in the repo's top-level folders.

pyproject.toml holds the metadata; this file only maps folders to packages, which setuptools
cannot express statically when the folders are not nested under the root package.
"""

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent
PACKAGE_DIRS = {
    "seedance": "seedance",
    "seedance.model": "model",
    "seedance.kernels": "kernels",
    "seedance.services": "services",
    "seedance.training": "training",
    "seedance.protos": "protos",
}


def find_packages() -> list[str]:
    found = []
    for root_name, folder in PACKAGE_DIRS.items():
        base = HERE / folder
        for init in sorted(base.rglob("__init__.py")):
            rel = init.parent.relative_to(base)
            if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                continue
            found.append(".".join([root_name, *rel.parts]) if rel.parts else root_name)
    return found


setup(
    packages=find_packages(),
    package_dir=PACKAGE_DIRS,
    package_data={
        "seedance.model": ["weights/*/*", "weights/*/*/*"],
        "seedance.protos.seedance.v1": ["*.proto", "*.pyi"],
        "seedance.training.eval": ["*.jsonl"],
        "seedance.services": ["*.yaml"],
    },
    include_package_data=True,
)
