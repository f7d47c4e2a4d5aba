"""State elimination: a finite automaton with character-class edges to one regex."""

from __future__ import annotations

from typing import overload

__all__ = ["eliminate"]

# A regex fragment: (text, kind) with kind "eps" | "atom" | "cat" | "alt".
Fragment = tuple[str, str]
_EPS: Fragment = ("", "eps")


@overload
def _alt(a: Fragment | None, b: Fragment) -> Fragment: ...
@overload
def _alt(a: Fragment | None, b: Fragment | None) -> Fragment | None: ...
def _alt(a: Fragment | None, b: Fragment | None) -> Fragment | None:
    if a is None:
        return b
    if b is None or a == b:
        return a
    if a[1] == "eps" and b[1] == "eps":
        return _EPS
    if a[1] == "eps":
        a, b = b, a
    if b[1] == "eps":
        return (f"(?:{a[0]})?", "atom")
    return (f"{a[0]}|{b[0]}", "alt")


def _group(a: Fragment) -> str:
    return f"(?:{a[0]})" if a[1] == "alt" else a[0]


def _cat(*parts: Fragment) -> Fragment:
    kept = [p for p in parts if p[1] != "eps"]
    if not kept:
        return _EPS
    if len(kept) == 1:
        return kept[0]
    return ("".join(_group(p) for p in kept), "cat")


def _star(a: Fragment | None) -> Fragment:
    if a is None or a[1] == "eps":
        return _EPS
    if a[1] == "atom" and not a[0].endswith(("*", "?", ")?")):
        return (a[0] + "*", "atom")
    return (f"(?:{a[0]})*", "atom")


def eliminate(
    start: int, finals: set[int], labels: dict[tuple[int, int], str], limit: int
) -> str | None:
    """The regex of all paths from ``start`` to a final state; None when there is none.

    Raises ValueError when the regex grows beyond ``limit`` characters.
    """
    forward: dict[int, set[int]] = {}
    backward: dict[int, set[int]] = {}
    for p, q in labels:
        forward.setdefault(p, set()).add(q)
        backward.setdefault(q, set()).add(p)
    reach = _closure({start}, forward)
    useful = _closure(set(finals), backward) & reach
    if start not in useful:
        return None
    source, sink = -1, -2
    edges: dict[tuple[int, int], Fragment] = {}
    for (p, q), text in labels.items():
        if p in useful and q in useful:
            edges[(p, q)] = (text, "atom")
    edges[(source, start)] = _EPS
    for final in finals & useful:
        edges[(final, sink)] = _EPS
    remaining = set(useful)
    while remaining:
        node = min(remaining, key=lambda n: _cost(n, edges))
        remaining.discard(node)
        loop = _star(edges.pop((node, node), None))
        ins = [(p, f) for (p, q), f in edges.items() if q == node]
        outs = [(q, f) for (p, q), f in edges.items() if p == node]
        for p, _ in ins:
            del edges[(p, node)]
        for q, _ in outs:
            del edges[(node, q)]
        for p, into in ins:
            for q, out in outs:
                merged = _alt(edges.get((p, q)), _cat(into, loop, out))
                if len(merged[0]) > limit:
                    raise ValueError("glob pattern too complex to translate to a regex")
                edges[(p, q)] = merged
    result = edges.get((source, sink))
    if result is None:
        return None
    return _group(result) if result[1] == "alt" else result[0]


def _cost(node: int, edges: dict[tuple[int, int], Fragment]) -> int:
    ins = sum(len(f[0]) + 1 for (p, q), f in edges.items() if q == node and p != node)
    outs = sum(len(f[0]) + 1 for (p, q), f in edges.items() if p == node and q != node)
    n_in = sum(1 for (p, q) in edges if q == node and p != node)
    n_out = sum(1 for (p, q) in edges if p == node and q != node)
    return ins * max(n_out, 1) + outs * max(n_in, 1)


def _closure(seeds: set[int], graph: dict[int, set[int]]) -> set[int]:
    seen = set(seeds)
    stack = list(seeds)
    while stack:
        for nxt in graph.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen
