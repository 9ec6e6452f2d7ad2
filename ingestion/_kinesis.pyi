# Type stub of the compiled envelope step (ingestion/_kinesis.c); ingestion/columnar.py is its only user.
from typing import Any

# (NDJSON body, sequence numbers' int32 offsets, their UTF-8 bytes), or None: the Python steps then run.
def body(records: list[Any], /) -> tuple[bytes, bytes, bytes] | None: ...
