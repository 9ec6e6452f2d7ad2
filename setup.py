"""The one compiled part: ingestion/_ndjson.c (why: its header comment). Everything else is in
pyproject.toml. Built for the stable ABI (abi3), so the same file loads on the Lambda's Python 3.12;
where it is missing, ingestion/ndjson.py falls back to pyarrow.json."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("ingestion._ndjson", ["ingestion/_ndjson.c"], py_limited_api=True,
                             define_macros=[("Py_LIMITED_API", "0x030B0000")],
                             extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra"])])
