# METADATA
# title: Condition evaluation
# description: |
#   Evaluates one compiled leaf condition against an image, and combines
#   leaves into a policy's boolean tree. Leaves and groups are produced by the
#   translator (migrate/bundle/compiler.py); their shape is documented in
#   docs/policies.md ("Compiled form").
package freightliner.conditions

# Image fields a `metadata` condition may name.
_metadata_fields := {
	"architecture", "os", "variant", "digest", "created_at",
	"size", "media_type", "index_digest",
}

_rfc3339 := `^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$`

# METADATA
# title: subject
# description: The value a leaf condition looks at; undefined when the image has none.
subject(leaf, image, _) := image[leaf.type] if leaf.type in {"tag", "repository", "registry"}

subject(leaf, image, _) := image.labels[leaf.key] if leaf.type == "label"

subject(leaf, image, _) := image.annotations[leaf.key] if leaf.type == "annotation"

subject(leaf, image, _) := image[leaf.key] if {
	leaf.type == "metadata"
	leaf.key in _metadata_fields
}

subject(leaf, image, now_ns) := now_ns - created_ns if {
	leaf.type == "age"
	created_ns := created_at_ns(image)
}

# METADATA
# title: created_at_ns
# description: The image's creation time in ns since the epoch, when it is valid RFC 3339.
created_at_ns(image) := time.parse_rfc3339_ns(image.created_at) if {
	is_string(image.created_at)
	regex.match(_rfc3339, image.created_at)
}

# Whether a subject counts as present: label and annotation keys exist even
# when empty; other fields must be non-empty (size: greater than zero).
_present(leaf, _) if leaf.type in {"label", "annotation", "age"}

_present(leaf, s) if {
	not leaf.type in {"label", "annotation", "age"}
	is_string(s)
	s != ""
}

_present(_, s) if {
	is_number(s)
	s > 0
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

# The base operators: `holds` is the un-negated truth of a leaf whose subject is `s`.
_holds("exists", leaf, s) if _present(leaf, s)

_holds("equals", leaf, s) if s == leaf.arg

_holds("in", leaf, s) if s in leaf.arg

_holds("matches", leaf, s) if {
	is_string(s)
	is_string(leaf.arg)
	regex.match(leaf.arg, s)
}

_holds("contains", leaf, s) if {
	is_string(s)
	contains(s, leaf.arg)
}

_holds("gt", leaf, s) if {
	is_number(s)
	s > leaf.arg
}

_holds("gte", leaf, s) if {
	is_number(s)
	s >= leaf.arg
}

_holds("lt", leaf, s) if {
	is_number(s)
	s < leaf.arg
}

_holds("lte", leaf, s) if {
	is_number(s)
	s <= leaf.arg
}

_holds("semver", leaf, s) if {
	v := _semver_of(s)
	some alternative in leaf.arg
	every comparator in alternative {
		_compare(comparator[0], semver.compare(v, comparator[1]))
	}
}

# METADATA
# title: truth
# description: A leaf's truth value (true or false, never undefined), negation applied.
truth(leaf, image, now_ns) := leaf.negate != true if {
	s := subject(leaf, image, now_ns)
	_holds(leaf.base, leaf, s)
} else := leaf.negate == true

# METADATA
# title: actual
# description: The subject value shown in explanations (null when absent).
actual(leaf, image, now_ns) := s if {
	s := subject(leaf, image, now_ns)
} else := null

# METADATA
# title: leaf_values
# description: Truth of every leaf of a compiled policy, keyed by leaf index.
leaf_values(policy, image, now_ns) := {i: truth(leaf, image, now_ns) | some i, leaf in policy.leaves}

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

_groups_at(policy, depth) := policy.levels[depth] if depth < count(policy.levels)

_groups_at(policy, depth) := [] if depth >= count(policy.levels)

_level(policy, depth, values) := object.union(
	values,
	{group.id: _group_truth(group, values) | some group in _groups_at(policy, depth)},
)

# METADATA
# title: matches
# description: |
#   Whether a compiled policy's condition tree holds for the image, given its
#   leaf values. Groups are evaluated level by level, deepest first; the
#   translator guarantees at most 8 levels (Rego has no recursion).
matches(policy, values) if {
	v1 := _level(policy, 0, values)
	v2 := _level(policy, 1, v1)
	v3 := _level(policy, 2, v2)
	v4 := _level(policy, 3, v3)
	v5 := _level(policy, 4, v4)
	v6 := _level(policy, 5, v5)
	v7 := _level(policy, 6, v6)
	v8 := _level(policy, 7, v7)
	v8[policy.root]
}
