"""The two compiled parts: ingestion/_ndjson.c and ingestion/_kinesis.c (why: their header comments).
Everything else is in pyproject.toml. Built for the stable ABI (abi3), so the same file loads on the Lambda's Python 3.12.
Optional: without a C compiler the install still succeeds, ingestion/ndjson.py parses with pyarrow.json
alone and ingestion/columnar.py decodes the envelopes in Python (~2x slower projectors);
tests/unit/test_ndjson.py and test_kinesis_body.py then fail to say so."""
from setuptools import Extension, setup


def _module(name: str) -> Extension:
    return Extension(f"ingestion.{name}", [f"ingestion/{name}.c"], py_limited_api=True, optional=True,
                     define_macros=[("Py_LIMITED_API", "0x030B0000")],
                     extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra"])


setup(ext_modules=[_module("_ndjson"), _module("_kinesis")])
