# METADATA
# title: Replication decision
# description: |
#   The contract between the translator and the adapter (docs/contract.md):
#   data.freightliner.replication.decision over {"image": ImageMetadata} is a
#   ReplicationDecision. Policies are data (data.freightliner.policy_set),
#   compiled by the translator; this package only interprets them.
# entrypoint: true
package freightliner.replication

import data.freightliner.actions
import data.freightliner.conditions
import data.freightliner.index

# METADATA
# title: decision
# description: The decision for input.image.
# entrypoint: true
decision := decide(input.image, now_ns(input), explain(input))

# METADATA
# title: decisions
# description: Batch form, one decision per element of input.images, in order.
# entrypoint: true
decisions := [decide(image, now, flag) |
	now := now_ns(input)
	flag := explain(input)
	some image in input.images
]

# METADATA
# title: explain
# description: |
#   Whether the decision explains every candidate's conditions: input.explain
#   is true. Otherwise every candidate is listed with "conditions": [] (the
#   condition lines are opt-in: building them was most of a decision's cost).
explain(inp) := true if inp.explain == true else := false

# METADATA
# title: now_ns
# description: The clock for age conditions: input.now (RFC 3339) when given, else the engine's.
now_ns(inp) := time.parse_rfc3339_ns(inp.now) if is_string(inp.now) else := time.now_ns()

# METADATA
# title: evaluate_policy
# description: One policy on its own - whether it matches and its rendered actions (used by generated tests).
evaluate_policy(policy, image, now) := _evaluate(policy, image, conditions.facts(image, conditions.clock(image, now)))

# METADATA
# title: self_check
# description: |
#   For the build's decides check (migrate/bundle/decides.py): whether a
#   policy matches an image by its condition tree (evaluate_policy, what an
#   explanation shows) and by its compiled checks (passing, what a decision
#   tests), as [tree, compiled]. The two must agree.
self_check(id, policy, image, now) := [
	evaluate_policy(policy, image, now).matched,
	id in passing({id}, conditions.facts_at(image, now)),
]

# The same steps as decide takes for each candidate (decide writes them out
# inline, one call fewer per candidate); decision_test.rego checks they agree.
_evaluate(policy, image, facts) := {
	"matched": matched,
	"explanation": {
		"policy_id": policy.id,
		"priority": policy.priority,
		"matched": matched,
		"conditions": entries,
	},
	"actions": [actions.render(a, policy, image) | matched; some a in policy.actions],
} if {
	entries := conditions.entries(policy, facts)
	matched := _matched(policy, entries)
}

# Whether a candidate matches. A disabled policy never does (the index leaves
# it out; a scan does not). The common shape, an enabled AND of leaves, is
# decided here without a further call.
_matched(policy, entries) := true if {
	policy.shape == "all"
	policy.enabled
	every e in entries {
		e.matched
	}
} else := false if {
	policy.shape == "all"
} else := false if {
	not policy.enabled
} else := conditions.shape_holds(policy.shape, policy, entries)

_policy_set := data.freightliner.policy_set

# METADATA
# title: decide
# description: |
#   The decision for one image under the bundle's compiled policy set
#   (read from data, not passed as an argument: regorus copies large
#   arguments on every call). With explain false, each candidate is
#   checked by its compiled program (see passing) and no condition lines
#   are built.
decide(image, now, explain) := {
	"should_replicate": count(resolved.replicate) > 0,
	"actions": array.concat(array.concat(resolved.replicate, resolved.block), resolved.notify),
	"matched_policies": matched_policies,
	"reason": _reason(outcome, resolved),
	"metadata": {
		"outcome": outcome,
		"candidates": count(ids),
		"policies": count(_policy_set.policies),
	},
	"explanation": judged[1],
} if {
	facts := conditions.facts_at(image, now)
	ids := index.candidates(image, facts)
	judged := _judged(explain, ids, facts)
	matched := judged[0]
	matched_policies := [key[1] | some key in sort({[0 - _policy_set.policies[id].priority, id] | some id in matched})]
	vars := actions.image_vars(image)
	resolved := actions.resolve(array.concat(
		[actions.render_with(a, id, policy.priority, vars) |
			some id in matched_policies
			policy := _policy_set.policies[id]
			some a in policy.actions
			not actions.plain(a)
		],
		# the common case, render_with written out (one call fewer per action)
		[{
			"type": a.type,
			"target_registry": a.target_registry,
			"target_repo": concat("", [object.get(vars, part.var, part.text) | some part in a.target_repo]),
			"target_tag": concat("", [object.get(vars, part.var, part.text) | some part in a.target_tag]),
			"parameters": a.parameters,
			"retry_policy": a.retry_policy,
			"policy_ids": [id],
			"priority": policy.priority,
			"platforms": object.get(a, "platforms", "all"),
			"with_referrers": object.get(a, "with_referrers", false),
		} |
			some id in matched_policies
			policy := _policy_set.policies[id]
			some a in policy.actions
			a.match_prefix == ""
			a.match_suffix == ""
			not a.legacy_destination
		],
	))
	outcome := _outcome(matched_policies, resolved)
}

# The candidates that match and the explanation, as [matched ids, entries].
# Not explaining: matched by passing; one entry per candidate in id order,
# whether it matched, and no condition lines (they are opt-in:
# input.explain). The entries are what the adapter's per-policy evaluation
# metrics count.
_judged(false, ids, facts) := [matched, [{
	"policy_id": id,
	"priority": _policy_set.policies[id].priority,
	"matched": id in matched,
	"conditions": [],
} |
	some id in sort(ids)
]] if {
	matched := passing(ids, facts)
}

# Explaining: every candidate's leaves evaluated once (entries), matched by
# its condition tree, and its condition lines. The matches agree with
# passing's (tests/integration/migrate/bundle/test_alternatives_agree.py,
# benchmarks/decision_corpus.py).
_judged(true, ids, facts) := [matched, [{
	"policy_id": id,
	"priority": policy.priority,
	"matched": id in matched,
	"conditions": conditions.explained(policy, lines[id]),
} |
	some id in sort(ids)
	policy := _policy_set.policies[id]
]] if {
	lines := {id: conditions.entries(_policy_set.policies[id], facts) | some id in ids}
	matched := {id | some id, entries in lines; _matched(_policy_set.policies[id], entries)}
}

# METADATA
# title: passing
# description: |
#   The candidates that match, decided as cheaply as possible: each policy's
#   compiled program (policy.alternatives, set by the translator) is a list
#   of ANDs of checks, each AND ordered cheapest and most often false first;
#   an enabled policy passes when every check of one of its ANDs holds, and
#   each AND stops at its first failing check. A policy that is an AND of
#   leaves (groups pushed through) has one AND; a small OR of ANDs has one
#   per alternative; a larger tree has one AND of one "tree" check, which
#   evaluates every leaf and combines them (conditions.check). One
#   comprehension over the candidates, whatever their kind.
passing(ids, facts) := {id |
	some id in ids
	policy := _policy_set.policies[id]
	policy.enabled
	some alternative in policy.alternatives
	every leaf in alternative {
		conditions.check(leaf.op, object.get(facts, leaf.subject, null), leaf.arg)
	}
}

_outcome(matched, resolved) := "replicate" if {
	count(resolved.replicate) > 0
} else := "block" if {
	count(resolved.block) > 0
} else := "no_action" if {
	count(matched) > 0
} else := "no_match"

_reason("replicate", resolved) := sprintf("replicate to %s (policies: %s)", [
	concat(", ", [sprintf("%s/%s:%s", [a.target_registry, a.target_repo, a.target_tag]) | some a in resolved.replicate]),
	concat(", ", sort({id | some a in resolved.replicate; some id in a.policy_ids})),
])

_reason("block", resolved) := concat("; ", [_block_reason(b) | some b in resolved.block])

_reason("no_action", _) := "matched policies request no replication"

_reason("no_match", _) := "no policy matched the image"

_block_reason(b) := b.parameters.reason if {
	is_string(b.parameters.reason)
	b.parameters.reason != ""
} else := sprintf("blocked by policy %s", [b.policy_ids[0]])
