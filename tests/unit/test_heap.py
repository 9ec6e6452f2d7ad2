"""cqrs.heap: survivors of a full collection are frozen; later garbage is still collected."""
from __future__ import annotations

import gc
import weakref

from cqrs.heap import freeze_survivors


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> tuple[_Node, _Node]:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return a, b


def test_a_full_collection_freezes_what_survives_it_and_undo_thaws_it() -> None:
    gc.unfreeze()
    undo = freeze_survivors()
    try:
        kept = _cycle()  # alive: a survivor
        gc.collect(2)
        assert gc.get_freeze_count() > 0
        tracked = {id(o) for o in gc.get_objects()}
        assert id(kept[0]) not in tracked  # frozen objects are not walked by later collections
        gc.collect(1)  # a young collection does not freeze
        young = _cycle()
        gc.collect(1)
        assert id(young[0]) in {id(o) for o in gc.get_objects()}
    finally:
        undo()
    assert gc.get_freeze_count() == 0
    assert id(kept[0]) in {id(o) for o in gc.get_objects()}
    gc.collect(2)
    assert gc.get_freeze_count() == 0  # the callback is gone


def test_garbage_made_after_a_freeze_is_still_collected() -> None:
    gc.unfreeze()
    undo = freeze_survivors()
    try:
        gc.collect(2)
        frozen = gc.get_freeze_count()
        a, _ = _cycle()
        collected = []
        weakref.finalize(a, collected.append, "cycle")
        del a, _
        gc.collect(2)
        assert collected == ["cycle"]
        assert gc.get_freeze_count() >= frozen
        # an acyclic frozen object is freed by reference counting
        lone = _Node()
        gc.collect(2)
        gone = []
        weakref.finalize(lone, gone.append, "lone")
        del lone
        assert gone == ["lone"]
    finally:
        undo()
