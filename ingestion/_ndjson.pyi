# Type stub of the compiled reader (ingestion/_ndjson.c); ingestion/ndjson.py is its only user.
from typing import Any, TypeAlias

# A node: (kind, length, null count, validity, offsets, data, children); children are (name, node)
# pairs for an object, (item,) for an array. None: the body is left to pyarrow.json.
Node: TypeAlias = tuple[int, int, int, bytes | None, bytes | None, bytes | None, tuple[Any, ...]]

def read(body: bytes | bytearray | memoryview, /) -> Node | None: ...
