"""Build hook for botkit's one optional C extension; all metadata is in pyproject.toml.

``botkit.core._l2kernel`` is the order book's level loop compiled with Cython (the
feed's hottest code; see botkit/core/_l2kernel.pyx and docs/benchmarks.md). It is
*optional*: without Cython or a C compiler the install still succeeds and the book
runs its Python loop, which gives the same results with about twice the CPU per level
(~20 % more per level2 frame end to end).
"""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # build-system requires Cython; absent only in unusual offline builds
    ext_modules = []
else:
    ext_modules = cythonize(
        [Extension("botkit.core._l2kernel", ["botkit/core/_l2kernel.pyx"], optional=True)],
        language_level=3,
        quiet=True,
    )

setup(ext_modules=ext_modules)
