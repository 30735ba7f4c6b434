"""The compiled part of the flow import (editor/policy/flows/_graphc.pyx, Cython); the rest of the build is in
pyproject.toml. `pip install -e .` builds the extension in place; without it the pure-Python code runs."""

from Cython.Build import cythonize
from setuptools import setup

setup(ext_modules=cythonize(["editor/policy/flows/_graphc.pyx"], language_level=3))
