"""Builds Fenceline's compiled modules (Cython) in place; everything else is in pyproject.toml.

`pip install -e .` (scripts/setup.sh) and the Dockerfile's build stage run this; it needs a C compiler and
Python's headers. Each compiled module has a pure-Python twin that stays the reference and the fallback when
the module is not built (FENCELINE_PURE_FLOWS=1 forces it): see the README, "The compiled flow import". Each
module sets its own compiler directives in its first line.
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

# Compiled modules by their import name; the source of each is the .pyx at the same path.
MODULES = [
    "editor.policy.flows._read",  # the reading: Aggregator.add_records for snake_case Hubble lines
    "editor.policy.flows._graphc",  # the building and writing: graph.build_document, FlowGraph.dump_chunks
]

setup(ext_modules=cythonize([Extension(name, [name.replace(".", "/") + ".pyx"]) for name in MODULES]))
