"""Checking a large file's conditions on the other core while this one loads it.

Most of the time of checking a policy goes to its condition arguments (a
regex checked by both engines, a glob translated and checked): answers
:func:`migrate.policy.conditions._argument` keeps, as pure functions of the
condition. ``policy build`` passes :func:`prewarm_arguments` to the loader
(:func:`migrate.policy.loader.load_policy_documents`): for a document of many
policies, a forked child (:class:`~migrate.bundle.background.Background`)
validates and checks the later part of them and sends back only those answers;
this process checks the earlier part meanwhile, then takes the answers and
checks the later part with them at hand. Every problem, message and result is
what it would be without the child (its answers are the ones this process
would compute); a child that gives no answer only costs the time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, Protocol

from migrate.bundle.background import Background, forking_allowed
from migrate.policy import conditions
from migrate.policy.model import ConditionNode, LoadedPolicy, Policy

__all__ = [
    "MIN_POLICIES",
    "SHARE_HERE",
    "EarlyAnswers",
    "argument_answers",
    "prewarm_arguments",
    "split_point",
]

#: Fewer policies than this in one document: no child (it would not pay).
MIN_POLICIES = 2_000
#: The share of the policies this process checks while the child checks the rest
#: (the child's part is checked here afterwards, cheaply, with its answers).
SHARE_HERE = 0.45

Answers = dict[tuple[Any, ...], tuple[bool, Any]]
#: How often (in policies) the loader asks whether an early child's answers are ready.
_READY_EVERY = 64


class EarlyAnswers(Protocol):
    """A child started before the parse (:class:`migrate.bundle.early_prewarm.EarlyPrewarm`)."""

    def split_of(self, raws: list[Any]) -> int | None: ...

    def answers_ready(self) -> bool: ...

    def answers(self) -> Answers: ...


def split_point(count: int, min_policies: int = MIN_POLICIES) -> int:
    """Where the child's part of ``count`` policies starts (``count``: no child)."""
    return count if count < min_policies else int(count * SHARE_HERE)


def _leaves(nodes: list[ConditionNode]) -> Iterator[ConditionNode]:
    for node in nodes:
        if node.all is not None:
            yield from _leaves(node.all)
        elif node.any is not None:
            yield from _leaves(node.any)
        elif node.not_ is not None:
            yield from _leaves([node.not_])
        else:
            yield node


def argument_answers(raws: list[Any]) -> Answers:
    """In a child: compile the leaves of these raw policies (what their check spends
    most of its time on); the argument answers computed meanwhile."""
    before = set(conditions._ARGUMENTS)
    for raw in raws:
        if not isinstance(raw, dict):
            continue
        try:
            policy = Policy.model_validate(raw)
        except Exception:  # the parent reports it: it checks the same policy
            continue
        for leaf in _leaves(policy.conditions):
            try:
                conditions.compile_leaf(leaf, "")
            except ValueError:  # ConditionError too; the parent reports it
                continue
    return {k: v for k, v in conditions._ARGUMENTS.items() if k not in before}


@contextmanager
def prewarm_arguments(
    raws: list[Any],
    min_policies: int = MIN_POLICIES,
    on_split: Callable[[list[LoadedPolicy]], None] | None = None,
    early: EarlyAnswers | None = None,
) -> Iterator[Callable[[int, list[LoadedPolicy]], None]]:
    """For the loader, about to check the raw policies ``raws`` of one document in order:
    a child checks the later part (where forking is allowed and there are enough of
    them); the value, called with each entry's number (and the policies loaded so far)
    before it is checked, takes the child's answers when the later part starts, and then
    hands ``on_split`` the policies loaded so far (:mod:`migrate.bundle.early_tests`
    starts their generated tests), and again every :data:`_READY_EVERY` policies once the
    child is done (before the split too, when an early child is done by then). Leaving
    the block stops the child.

    ``early``: a child started before the parse (:mod:`migrate.bundle.early_prewarm`);
    when its part starts with one of these policies, it is this document's child."""
    split = split_point(len(raws), min_policies)
    if split >= len(raws) or not forking_allowed():
        yield lambda _number, _loaded: None
        return
    early_split = early.split_of(raws) if early is not None else None
    ready: Callable[[], bool] | None = None
    if early is not None and early_split is not None:
        answer: Callable[[], Answers] = early.answers
        ready = early.answers_ready
        split = early_split
        work = None
    else:
        later = raws[split:]
        work = Background(lambda: argument_answers(later), lambda: {})
        answer = work.result
    with work if work is not None else nullcontext():
        taken = False

        def before(number: int, loaded: list[LoadedPolicy]) -> None:
            nonlocal taken
            if number >= split and not taken:
                taken = True
                conditions.remember_arguments(answer())
                if on_split is not None:
                    on_split(list(loaded))
                return
            # Once the child is done (after the split, or an early child before it), the
            # other core would wait for the builder: ``on_split`` now and then with the
            # policies loaded so far (EarlyTests starts a batch when that core is free).
            if on_split is None or not loaded or number % _READY_EVERY:
                return
            if taken or (ready is not None and ready()):
                on_split(list(loaded))

        yield before
