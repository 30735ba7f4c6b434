"""Builds Fenceline's compiled modules (Cython) in place; everything else is in pyproject.toml.

`pip install -e .` (scripts/setup.sh) and the Dockerfile's build stage run this; it needs a C compiler and
Python's headers. Each compiled module has a pure-Python twin that stays the reference and the fallback when
the module is not built (FENCELINE_PURE_FLOWS=1 forces it): see the README, "The compiled flow reader".
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

# Compiled modules by their import name; the source of each is the .pyx at the same path.
MODULES = [
    "editor.policy.flows._read",
]

setup(
    ext_modules=cythonize(
        [Extension(name, [name.replace(".", "/") + ".pyx"]) for name in MODULES],
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )
)
