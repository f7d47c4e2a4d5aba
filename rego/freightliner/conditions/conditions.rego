# METADATA
# title: Condition evaluation
# description: |
#   Evaluates one compiled leaf condition against an image, and combines
#   leaves into a policy's boolean tree. Leaves and groups are produced by the
#   translator (migrate/policy/conditions.py compile_leaf, migrate/policy/semantics.py
#   compile_policy); their shape is documented in
#   docs/policies.md ("Compiled form").
package freightliner.conditions

import data.freightliner.legacy

_rfc3339 := `^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$`

# METADATA
# title: facts
# description: |
#   What leaf conditions look at: the image, plus its age in ns under the
#   clock as "age_ns" (absent when created_at is not valid RFC 3339).
#   leaf.subject is a path in it (["tag"], ["labels", "env"], ["size"],
#   ["age_ns"]), set by the translator. Computed once per image.
facts(image, clock) := object.union(image, {"age_ns": clock.age_ns}) if {
	clock.age_ns != null
} else := object.remove(image, {"age_ns"})

# METADATA
# title: facts_at
# description: |
#   facts(image, clock(image, now_ns)) in one call (decisions run it once per
#   image; each call costs OPA about as much as the work inside it).
#   decision_test.rego checks they agree.
facts_at(image, now_ns) := object.union(image, {"age_ns": now_ns - time.parse_rfc3339_ns(image.created_at)}) if {
	is_string(image.created_at)
	regex.match(_rfc3339, image.created_at)
} else := object.remove(image, {"age_ns"})

# METADATA
# title: clock
# description: |
#   The time facts of one evaluation, computed once per image: now and the
#   image's age in ns (null when created_at is not valid RFC 3339).
clock(image, now_ns) := {"now_ns": now_ns, "age_ns": now_ns - created} if {
	created := created_at_ns(image)
} else := {"now_ns": now_ns, "age_ns": null}

# METADATA
# title: created_at_ns
# description: The image's creation time in ns since the epoch, when it is valid RFC 3339.
created_at_ns(image) := time.parse_rfc3339_ns(image.created_at) if {
	is_string(image.created_at)
	regex.match(_rfc3339, image.created_at)
}

_compare(">", r) if r > 0

_compare(">=", r) if r >= 0

_compare("<", r) if r < 0

_compare("<=", r) if r <= 0

_compare("=", r) if r == 0

_compare("!=", r) if r != 0

_semver_of(s) := trim_prefix(s, "v") if {
	is_string(s)
	semver.is_valid(trim_prefix(s, "v"))
}

# METADATA
# title: holds
# description: |
#   Whether a leaf's base operator holds for a subject value (true or false,
#   never undefined); false for every operator when the subject is absent
#   (null). One else chain, the most common operators first: OPA evaluates
#   every definition of a function on each call, so one definition per
#   operator cost each call a visit to all of them (about 45 evaluation
#   steps); a chain stops at the operator's branch. String and number
#   operators are false for a subject of another type (a built-in would
#   fail on it). (Compiled arguments are never null.)
holds(base, type, s, arg) := s == arg if {
	base == "equals"
} else := s in arg if {
	base == "in"
} else := startswith(s, arg) if {
	base == "prefix"
	is_string(s)
} else := _prefix_segment(s, arg) if {
	# a glob "literal*": the literal, then no "/"
	base == "prefix_segment"
	is_string(s)
} else := _exists(type, s) if {
	base == "exists"
} else := regex.match(arg, s) if {
	base == "matches"
	is_string(s)
} else := s < arg if {
	base == "lt"
	is_number(s)
} else := s > arg if {
	base == "gt"
	is_number(s)
} else := _semver_holds_bool(s, arg) if {
	base == "semver"
} else := contains(s, arg) if {
	base == "contains"
	is_string(s)
} else := endswith(s, arg) if {
	base == "suffix"
	is_string(s)
} else := s <= arg if {
	base == "lte"
	is_number(s)
} else := s >= arg if {
	base == "gte"
	is_number(s)
} else := legacy.semver_selects(s, arg) if {
	# legacy_semver: the legacy sync's semver_constraint dialect (converted policies only)
	base == "legacy_semver"
	is_string(s)
} else := false if {
	# a string or number operator on a subject of another type (or absent)
	_typed_bases[base]
}

_typed_bases := {"prefix", "prefix_segment", "matches", "contains", "suffix", "legacy_semver", "lt", "gt", "lte", "gte"}

# exists: a label or annotation key is present even when empty (and an age is
# present whenever created_at is valid); any other subject must be a non-empty
# string or a number above zero (sizes are >= 0).
_exists(type, s) := false if {
	s == null
} else := true if {
	type in {"label", "annotation", "age"}
} else := false if {
	s == ""
} else := s != 0

_prefix_segment(s, arg) := true if {
	startswith(s, arg)
	not contains(trim_prefix(s, arg), "/")
} else := false

_semver_holds_bool(s, arg) := true if _semver_holds(s, arg) else := false

# semver: arg is {"alternatives": [[[op, version], ...], ...], "prerelease": P}
# (migrate/policy/values.py semver_condition_arg). A version with a prerelease
# satisfies an alternative only when P is true (include_prerelease) or the
# alternative names a prerelease on the same major.minor.patch (P[i]), as
# npm's node-semver does.
_semver_holds(s, arg) if {
	v := _semver_of(s)
	some i, alternative in arg.alternatives
	every comparator in alternative {
		_compare(comparator[0], semver.compare(v, comparator[1]))
	}
	_prerelease_admitted(v, arg.prerelease, i)
}

_prerelease_admitted(v, _, _) if not contains(split(v, "+")[0], "-")

_prerelease_admitted(_, true, _) := true

_prerelease_admitted(v, named, i) if {
	is_array(named)
	split(split(v, "+")[0], "-")[0] in named[i]
}

# METADATA
# title: check
# description: |
#   A compiled check (a policy's checks and alternatives) given its subject
#   value: holds(base, type, s, arg) != negate, where op (set by the
#   translator, migrate/bundle/program.py check_op) names base and negate:
#   the common tests are decided directly; any other op (or a test that does
#   not apply to the subject: a string test on a number, ...) through
#   _general; op "tree" evaluates a whole policy (see tree_holds). Three arguments, not the check itself: passing the check made
#   each call measurably slower in OPA (docs/benchmarks.md).
check(op, s, arg) := s == arg if {
	op == "equals"
} else := s != arg if {
	op == "not_equals"
} else := s in arg if {
	op == "in"
} else := startswith(s, arg) if {
	op == "prefix"
	is_string(s)
} else := _prefix_segment(s, arg) if {
	op == "prefix_segment"
	is_string(s)
} else := s != null if {
	op == "present"
} else := s == null if {
	op == "absent"
} else := regex.match(arg, s) if {
	op == "matches"
	is_string(s)
} else := s < arg if {
	op == "lt"
	is_number(s)
} else := s > arg if {
	op == "gt"
	is_number(s)
} else := holds(general[0], "", s, arg) != general[1] if {
	general := _general[op]
} else := tree_holds(data.freightliner.policy_set.policies[arg], s) if {
	# a policy no small list of ANDs can express: its subject is the whole
	# of the facts (subject []), its argument the policy's id
	op == "tree"
}

# METADATA
# title: tree_holds
# description: |
#   Whether a compiled policy's condition tree holds for an image's facts:
#   every leaf evaluated (entries), then combined by the policy's shape
#   (shape_holds). Enabled or not: the caller decides that.
tree_holds(policy, facts) := shape_holds(policy.shape, policy, entries(policy, facts))

# Every op check_op writes, as [base, negate]: each base of holds, and each
# after "not_". The type is needed only by exists, and an exists of a
# label, annotation or age is present or absent, so the type passed is ""
# (any other type).
_general := {
	"equals": ["equals", false], "not_equals": ["equals", true],
	"in": ["in", false], "not_in": ["in", true],
	"prefix": ["prefix", false], "not_prefix": ["prefix", true],
	"prefix_segment": ["prefix_segment", false], "not_prefix_segment": ["prefix_segment", true],
	"exists": ["exists", false], "not_exists": ["exists", true],
	"matches": ["matches", false], "not_matches": ["matches", true],
	"lt": ["lt", false], "not_lt": ["lt", true],
	"gt": ["gt", false], "not_gt": ["gt", true],
	"semver": ["semver", false], "not_semver": ["semver", true],
	"contains": ["contains", false], "not_contains": ["contains", true],
	"suffix": ["suffix", false], "not_suffix": ["suffix", true],
	"lte": ["lte", false], "not_lte": ["lte", true],
	"gte": ["gte", false], "not_gte": ["gte", true],
	"legacy_semver": ["legacy_semver", false], "not_legacy_semver": ["legacy_semver", true],
}

# METADATA
# title: result
# description: |
#   A leaf's outcome under a clock (see clock): matched (true or false, never undefined, negation
#   applied) and the subject value seen (null when absent). Computed by
#   entries, the code decisions run, for a policy of this one leaf.
result(leaf, image, clock) := {"matched": e.matched, "actual": e.actual} if {
	[e] := entries({"leaves": [object.union({"about": {}}, leaf)]}, facts(image, clock))
}

# METADATA
# title: entries
# description: |
#   The explanation line of every leaf of a compiled policy, in leaf order:
#   what the leaf is (leaf.about) with its result (see result), given the
#   image's facts (see facts). This runs for every leaf of every candidate
#   policy, so the leaf is evaluated inline rather than through result.
entries(policy, facts) := [object.union(leaf.about, {"matched": holds(leaf.base, leaf.type, s, leaf.arg) != leaf.negate, "actual": s}) |
	some leaf in policy.leaves
	s := object.get(facts, leaf.subject, null)
]

# METADATA
# title: truth
# description: A leaf's truth value (true or false, never undefined), negation applied.
truth(leaf, image, now_ns) := result(leaf, image, clock(image, now_ns)).matched

# METADATA
# title: leaf_results
# description: The result of every leaf of a compiled policy, in leaf order.
leaf_results(policy, image, clock) := [result(leaf, image, clock) | some leaf in policy.leaves]

# METADATA
# title: leaf_values
# description: Truth of every leaf, keyed by leaf index (the input of matches).
leaf_values(results) := {i: r.matched | some i, r in results}

_group_truth(group, values) := true if {
	group.op == "all"
	every child in group.children {
		values[child]
	}
} else := true if {
	group.op == "any"
	some child in group.children
	values[child]
} else := true if {
	group.op == "not"
	not values[group.children[0]]
} else := false

# Levels past the policy's own depth leave the values as they are.
_level(policy, depth, values) := object.union(
	values,
	{group.id: _group_truth(group, values) | some group in policy.levels[depth]},
) if depth < count(policy.levels)

_level(policy, depth, values) := values if depth >= count(policy.levels)

# METADATA
# title: matches
# description: |
#   Whether a compiled policy's condition tree holds, given its leaf
#   results (see leaf_results). policy.shape "all" / "any" is a single group
#   over every leaf (the common case, decided directly); a "tree" is
#   evaluated level by level, deepest first; the translator guarantees at
#   most 8 levels (Rego has no recursion).
matches(policy, results) := shape_holds(policy.shape, policy, results)

# METADATA
# title: shape_holds
# description: |
#   matches for a given shape, one definition per shape (selected by the
#   first argument, no else chain to walk): true or false, never undefined.
shape_holds("all", _, results) := true if {
	every r in results {
		r.matched
	}
} else := false

shape_holds("any", _, results) := true if {
	some r in results
	r.matched
} else := false

shape_holds("tree", policy, results) := true if {
	_tree_holds(policy, leaf_values(results))
} else := false

_tree_holds(policy, values) if {
	_tree_values(policy, values)[policy.root]
}

# The truth of every leaf and group of a tree, levels evaluated deepest first.
_tree_values(policy, values) := v8 if {
	v1 := _level(policy, 0, values)
	v2 := _level(policy, 1, v1)
	v3 := _level(policy, 2, v2)
	v4 := _level(policy, 3, v3)
	v5 := _level(policy, 4, v4)
	v6 := _level(policy, 5, v5)
	v7 := _level(policy, 6, v6)
	v8 := _level(policy, 7, v7)
}

# METADATA
# title: explained
# description: |
#   The explanation lines of a policy: its leaf lines (see entries) and, when
#   the policy has explicit all/any/not groups (policy.explain, set by the
#   translator), one line per such group with the group's own verdict, in
#   document order (a group above its conditions). A not: group's line says
#   whether the group holds; its condition's line whether the condition does.
explained(policy, entries) := entries if {
	not policy.explain
} else := [_explained_line(item, entries, values) |
	some item in policy.explain
] if {
	values := _tree_values(policy, leaf_values(entries))
}

_explained_line(item, entries, _) := entries[item] if is_number(item)

_explained_line(item, _, values) := object.union(item.about, {"matched": values[item.id], "actual": null}) if is_object(item)
