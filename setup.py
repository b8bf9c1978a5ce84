"""Package mapping only (metadata lives in pyproject.toml): passes/ and codegen/ sit at the
repository root but install as tracecomp.passes and tracecomp.codegen, so no generic
top-level names (`passes`, `codegen`) leak into a user's environment. pyproject's static
`package-dir` cannot find subpackages under a mapped folder, hence this file."""
from setuptools import find_packages, setup

ROOTS = {"tracecomp": "tracecomp", "tracecomp.passes": "passes", "tracecomp.codegen": "codegen"}


def packages_under(name, folder):
    return [name] + [f"{name}.{sub}" for sub in find_packages(folder)]


setup(packages=[p for name, folder in ROOTS.items() for p in packages_under(name, folder)],
      package_dir=ROOTS,
      # the heap counter that `tracecomp bench` compiles for its step-memory column
      package_data={"tracecomp.bench": ["peak_malloc.c"]})
