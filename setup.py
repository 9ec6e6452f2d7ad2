"""The one compiled part: ingestion/_ndjson.c (why: its header comment). Everything else is in
pyproject.toml. Built for the stable ABI (abi3), so the same file loads on the Lambda's Python 3.12.
Optional: without a C compiler the install still succeeds and ingestion/ndjson.py parses with
pyarrow.json alone (~1.5x slower projectors); tests/unit/test_ndjson.py then fails to say so."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("ingestion._ndjson", ["ingestion/_ndjson.c"], py_limited_api=True, optional=True,
                             define_macros=[("Py_LIMITED_API", "0x030B0000")],
                             extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra"])])
