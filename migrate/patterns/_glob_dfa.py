"""The exact translation of a Go ``filepath.Match`` pattern into a regex, for
the patterns where the simple one (``[^/]*`` per star) is not exact.

Go commits each chunk after a star to its *leftmost* match and skips bytes,
not characters, in the star loop. Both are modelled by a deterministic
automaton whose states are Go's pending work (the live attempts of the
current chunk, ordered by start, and the continuation of a completed one).
It reads one character at a time, feeding its UTF-8 bytes through the byte
semantics; characters are grouped into intervals that behave alike. The
automaton is minimised and turned into a regex by state elimination.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from typing import Any, cast

from migrate.patterns._glob_syntax import (
    MAX_RUNE,
    SLASH,
    Chunk,
    Intervals,
    class_regex,
    contains,
    normalize,
)
from migrate.patterns._regex_build import eliminate

__all__ = ["GlobAutomaton", "exact_regex"]

State = Hashable
DEAD: State = ("dead",)
END: State = ("end",)
TRAIL: State = ("trail",)


class GlobAutomaton:
    """Go's greedy matcher as a character-level deterministic automaton."""

    def __init__(self, chunks: list[Chunk]) -> None:
        self.chunks = chunks
        self.start: State = self._enter(0)

    # -- states -------------------------------------------------------------
    def _enter(self, index: int) -> State:
        if index == len(self.chunks):
            return END
        chunk = self.chunks[index]
        if chunk.star and not chunk.items:
            return TRAIL
        if index == len(self.chunks) - 1:
            return ("last", index, frozenset({(0, 0)}), chunk.star, False)
        return ("chunk", index, (("a", 0, 0),), chunk.star)

    def accepting(self, state: State) -> bool:
        state = cast(tuple[Any, ...], state)  # every state is a tuple (see _enter)
        kind = state[0]
        if kind in ("end", "trail"):
            return True
        if kind == "last":
            return bool(state[4])
        if kind == "chunk":
            for entry in state[2]:
                if entry[0] == "d":
                    return self.accepting(entry[1])
        return False

    def _attempt(
        self, index: int, t: int, skip: int, offset: int, rune: int, size: int
    ) -> tuple[int, int] | None:
        if skip:
            return t, skip - 1
        item = self.chunks[index].items[t]
        if offset == 0:
            return (t + 1, size - 1) if contains(item.runes, rune) else None
        return (t + 1, 0) if item.mid_rune else None

    def _feed_byte(self, state: State, byte: int, offset: int, rune: int, size: int) -> State:
        state = cast(tuple[Any, ...], state)  # every state is a tuple (see _enter)
        kind = state[0]
        if kind in ("dead", "end"):
            return DEAD
        if kind == "trail":
            return DEAD if byte == SLASH else TRAIL
        index = state[1]
        length = len(self.chunks[index].items)
        is_open = bool(state[3]) and byte != SLASH
        if kind == "last":
            live: set[tuple[int, int]] = set()
            done = False
            for t, skip in state[2]:
                moved = self._attempt(index, t, skip, offset, rune, size)
                if moved is None:
                    continue
                if moved == (length, 0):
                    done = done or offset + 1 == size
                else:
                    live.add(moved)
            if is_open:
                live.add((0, 0))
            if not live and not is_open and not done:
                return DEAD
            return ("last", index, frozenset(live), is_open, done)
        entries: list[tuple[Any, ...]] = []
        for entry in state[2]:
            if entry[0] == "d":
                entries.append(("d", self._feed_byte(entry[1], byte, offset, rune, size)))
                break
            moved = self._attempt(index, entry[1], entry[2], offset, rune, size)
            if moved is None:
                continue
            if moved == (length, 0):
                entries.append(("d", self._enter(index + 1)))
                break
            if ("a", *moved) not in entries:
                entries.append(("a", *moved))
        else:
            if is_open:
                entries.append(("a", 0, 0))
        if entries and entries[-1][0] == "d":
            is_open = False
        if not entries:
            return DEAD
        if entries[0][0] == "d":
            committed: State = entries[0][1]
            return committed
        return ("chunk", index, tuple(entries), is_open)

    def feed(self, state: State, rune: int) -> State:
        data = chr(rune).encode("utf-8")
        for offset, byte in enumerate(data):
            state = self._feed_byte(state, byte, offset, rune, len(data))
            if state == DEAD:
                break
        return state

    def matches(self, name: str) -> bool:
        state = self.start
        for char in name:
            state = self.feed(state, ord(char))
        return self.accepting(state)

    # -- character classes ----------------------------------------------------
    def alphabet(self) -> list[Intervals]:
        """Intervals of runes that every state treats alike."""
        cuts = {0, SLASH, SLASH + 1, 0x80, 0x800, 0x10000, 0xD800, 0xE000, MAX_RUNE + 1}
        for chunk in self.chunks:
            for item in chunk.items:
                for lo, hi in item.runes:
                    cuts.update((lo, hi + 1))
        points = sorted(cuts)
        classes = [normalize([(a, b - 1)]) for a, b in itertools.pairwise(points)]
        return [c for c in classes if c]


def exact_regex(chunks: list[Chunk], limit: int = 200_000) -> str:
    """An anchored regex equivalent to Go's matcher (ValueError when longer than ``limit``)."""
    automaton = GlobAutomaton(chunks)
    alphabet = automaton.alphabet()
    index: dict[State, int] = {automaton.start: 0}
    order: list[State] = [automaton.start]
    delta: list[list[int]] = []
    pos = 0
    while pos < len(order):
        row: list[int] = []
        for klass in alphabet:
            target = automaton.feed(order[pos], klass[0][0])
            if target not in index:
                index[target] = len(order)
                order.append(target)
            row.append(index[target])
        delta.append(row)
        pos += 1
    accepting = [automaton.accepting(s) for s in order]
    blocks = _minimise(delta, accepting)
    edges: dict[tuple[int, int], list[tuple[int, int]]] = {}
    seen: set[int] = set()
    for state, row in enumerate(delta):
        source = blocks[state]
        if source in seen:
            continue
        seen.add(source)
        for klass, target in zip(alphabet, row, strict=True):
            edges.setdefault((source, blocks[target]), []).extend(klass)
    finals = {blocks[s] for s, acc in enumerate(accepting) if acc}
    labels = {pair: class_regex(normalize(spans)) for pair, spans in edges.items()}
    body = eliminate(blocks[0], finals, labels, limit)
    if body is None:
        return "^" + class_regex(()) + "$"
    return f"^{body}$"


def _minimise(delta: list[list[int]], accepting: list[bool]) -> list[int]:
    """Moore's partition refinement: the block of every state."""
    blocks = [1 if acc else 0 for acc in accepting]
    while True:
        signatures: dict[tuple[int, ...], int] = {}
        refined: list[int] = []
        for state, row in enumerate(delta):
            signature = (blocks[state], *(blocks[t] for t in row))
            refined.append(signatures.setdefault(signature, len(signatures)))
        if len(set(refined)) == len(set(blocks)):
            return refined
        blocks = refined
