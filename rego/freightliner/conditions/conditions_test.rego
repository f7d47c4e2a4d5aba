package freightliner.conditions_test

import data.freightliner.conditions

_image := {
	"registry": "ecr",
	"repository": "team/app",
	"tag": "v1.4.2",
	"labels": {"environment": "production", "empty": ""},
	"annotations": {"org.opencontainers.image.source": "https://example.test/app"},
	"size": 1048576,
	"created_at": "2026-01-01T00:00:00Z",
	"architecture": "amd64",
	"os": "linux",
	"digest": "sha256:aa",
}

# 2026-01-31T00:00:00Z
_now := 1769817600000000000

_day := 86400000000000

_subjects := {"label": ["labels"], "annotation": ["annotations"], "metadata": []}

_subject(type, key) := array.concat(_subjects[type], [key]) if type in object.keys(_subjects)

_subject("age", _) := ["age_ns"]

_subject(type, _) := [type] if {
	not type in object.keys(_subjects)
	type != "age"
}

_leaf(type, key, base, arg) := {
	"type": type, "key": key, "subject": _subject(type, key),
	"base": base, "negate": false, "arg": arg,
}

_not(leaf) := object.union(leaf, {"negate": true})

test_equals_on_fields if {
	conditions.truth(_leaf("tag", "", "equals", "v1.4.2"), _image, _now)
	conditions.truth(_leaf("repository", "", "equals", "team/app"), _image, _now)
	conditions.truth(_leaf("registry", "", "equals", "ecr"), _image, _now)
	not conditions.truth(_leaf("registry", "", "equals", "gcr"), _image, _now)
}

test_truth_is_never_undefined if {
	conditions.truth(_leaf("label", "missing", "equals", "x"), _image, _now) == false
}

test_label_and_annotation if {
	conditions.truth(_leaf("label", "environment", "equals", "production"), _image, _now)
	conditions.truth(_leaf("label", "empty", "exists", null), _image, _now)
	not conditions.truth(_leaf("label", "security.scan.status", "exists", null), _image, _now)
	conditions.truth(_not(_leaf("label", "security.scan.status", "exists", null)), _image, _now)
	conditions.truth(_leaf("annotation", "org.opencontainers.image.source", "contains", "example.test"), _image, _now)
}

test_negation_of_missing_subject_holds if {
	conditions.truth(_not(_leaf("label", "missing", "equals", "x")), _image, _now)
	conditions.truth(_not(_leaf("label", "missing", "in", ["x"])), _image, _now)
}

test_in_and_matches if {
	conditions.truth(_leaf("tag", "", "in", ["latest", "v1.4.2"]), _image, _now)
	not conditions.truth(_leaf("tag", "", "in", ["latest"]), _image, _now)
	conditions.truth(_leaf("tag", "", "matches", `^v1\.`), _image, _now)
	conditions.truth(_leaf("repository", "", "matches", `app`), _image, _now)
	not conditions.truth(_leaf("repository", "", "matches", `^app`), _image, _now)
}

test_size_comparisons if {
	size := _leaf("metadata", "size", "gt", 1048575)
	conditions.truth(size, _image, _now)
	not conditions.truth(object.union(size, {"arg": 1048576}), _image, _now)
	conditions.truth(_leaf("metadata", "size", "gte", 1048576), _image, _now)
	conditions.truth(_leaf("metadata", "size", "lt", 1048577), _image, _now)
	conditions.truth(_leaf("metadata", "size", "lte", 1048576), _image, _now)
	not conditions.truth(_leaf("metadata", "size", "equals", "1048576"), _image, _now)
}

test_metadata_string_fields if {
	conditions.truth(_leaf("metadata", "architecture", "equals", "amd64"), _image, _now)
	conditions.truth(_leaf("metadata", "os", "exists", null), _image, _now)
	not conditions.truth(_leaf("metadata", "variant", "exists", null), _image, _now)
	not conditions.truth(_leaf("metadata", "not_a_field", "exists", null), _image, _now)
	conditions.result(_leaf("label", "missing", "exists", null), _image, conditions.clock(_image, _now)) == {"matched": false, "actual": null}
	conditions.result(_leaf("tag", "", "equals", "x"), _image, conditions.clock(_image, _now)) == {"matched": false, "actual": "v1.4.2"}
}

test_age if {
	# created 30 days before _now
	conditions.truth(_leaf("age", "", "gt", 29 * _day), _image, _now)
	not conditions.truth(_leaf("age", "", "gt", 30 * _day), _image, _now)
	conditions.truth(_leaf("age", "", "lt", 31 * _day), _image, _now)
}

test_age_is_computed_not_read_from_the_image if {
	# an input image that carries its own age_ns does not decide an age condition
	image := object.union(_image, {"created_at": "yesterday", "age_ns": 100 * _day})
	not conditions.truth(_leaf("age", "", "gt", 1), image, _now)
	conditions.facts(image, conditions.clock(image, _now)) == object.remove(image, {"age_ns"})
	conditions.facts(_image, conditions.clock(_image, _now)).age_ns == 30 * _day
}

test_age_of_unparseable_created_at_is_false if {
	image := object.union(_image, {"created_at": "yesterday"})
	not conditions.truth(_leaf("age", "", "gt", 1), image, _now)
	not conditions.truth(_leaf("age", "", "lt", 1), image, _now)
}

_semver(alternatives) := {"alternatives": alternatives, "prerelease": [[] | some _ in alternatives]}

test_semver if {
	range := _semver([[[">=", "1.2.0"], ["<", "2.0.0"]]])
	conditions.truth(_leaf("tag", "", "semver", range), _image, _now)
	not conditions.truth(_leaf("tag", "", "semver", _semver([[[">=", "2.0.0"]]])), _image, _now)
	conditions.truth(_leaf("tag", "", "semver", _semver([[[">=", "2.0.0"]], [["=", "1.4.2"]]])), _image, _now)
	not conditions.truth(_leaf("tag", "", "semver", range), object.union(_image, {"tag": "latest"}), _now)
}

_tagged(tag) := object.union(_image, {"tag": tag})

_range_1_3 := _semver([[[">=", "1.0.0"], ["<", "3.0.0"]]])

# A range without a prerelease admits no prerelease (npm / node-semver), even inside it.
test_semver_range_excludes_prereleases if {
	leaf := _leaf("tag", "", "semver", _range_1_3)
	conditions.truth(leaf, _tagged("2.0.0"), _now)
	conditions.truth(leaf, _tagged("v2.9.9+build.5"), _now)
	not conditions.truth(leaf, _tagged("2.0.0-rc.1"), _now)
	not conditions.truth(leaf, _tagged("3.0.0-rc.1"), _now)
	not conditions.truth(leaf, _tagged("1.5.0-beta+exp"), _now)
}

# A prerelease is admitted when its alternative names one on the same major.minor.patch.
test_semver_named_prerelease_admits_its_tuple_only if {
	leaf := _leaf("tag", "", "semver", {
		"alternatives": [[[">=", "2.0.0-rc.1"], ["<", "3.0.0"]], [["=", "4.0.0"]]],
		"prerelease": [["2.0.0"], []],
	})
	conditions.truth(leaf, _tagged("2.0.0-rc.1"), _now)
	conditions.truth(leaf, _tagged("2.0.0-rc.2"), _now)
	not conditions.truth(leaf, _tagged("2.0.0-beta"), _now) # below the bound
	not conditions.truth(leaf, _tagged("2.1.0-rc.1"), _now) # another major.minor.patch
	conditions.truth(leaf, _tagged("2.1.0"), _now)
	not conditions.truth(leaf, _tagged("4.0.0-rc.1"), _now)
}

# include_prerelease: true admits every prerelease the comparators admit.
test_semver_include_prerelease if {
	leaf := _leaf("tag", "", "semver", {"alternatives": _range_1_3.alternatives, "prerelease": true})
	conditions.truth(leaf, _tagged("2.0.0-rc.1"), _now)
	conditions.truth(leaf, _tagged("3.0.0-rc.1"), _now) # 3.0.0-rc.1 < 3.0.0 in semver order
	not conditions.truth(leaf, _tagged("1.0.0-rc.1"), _now) # below 1.0.0
}

_policy(leaves, levels, root) := {"leaves": leaves, "levels": levels, "root": root, "shape": "tree"}

_values(p) := conditions.leaf_results(p, _image, conditions.clock(_image, _now))

test_groups_all_any_not if {
	t := _leaf("tag", "", "equals", "v1.4.2")
	f := _leaf("tag", "", "equals", "nope")

	# (t and f) or not f
	p := _policy([t, f, f], [[{"id": 3, "op": "all", "children": [0, 1]}, {"id": 4, "op": "not", "children": [2]}], [{"id": 5, "op": "any", "children": [3, 4]}]], 5)
	conditions.matches(p, _values(p))

	q := _policy([t, f], [[{"id": 2, "op": "all", "children": [0, 1]}]], 2)
	not conditions.matches(q, _values(q))
}

# A not: group's line carries the group's verdict; its condition's line the condition's.
test_explained_not_group_line if {
	t := object.union(_leaf("tag", "", "equals", "v1.4.2"), {"about": {"path": "conditions[0].not"}})
	about := {"path": "conditions[0]", "type": "group", "key": "", "operator": "not", "value": 1}
	p := object.union(
		_policy([t], [[{"id": 1, "op": "not", "children": [0]}], [{"id": 2, "op": "all", "children": [1]}]], 2),
		{"explain": [{"id": 1, "about": about}, 0]},
	)
	entries := conditions.entries(p, conditions.facts(_image, conditions.clock(_image, _now)))
	conditions.explained(p, entries) == [
		object.union(about, {"matched": false, "actual": null}),
		{"path": "conditions[0].not", "matched": true, "actual": "v1.4.2"},
	]
	not conditions.matches(p, _values(p))
}

# Without explicit groups (no policy.explain) the lines are the leaf lines.
test_explained_without_groups_is_entries if {
	p := _policy([], [[{"id": 0, "op": "all", "children": []}]], 0)
	conditions.explained(p, [{"x": 1}]) == [{"x": 1}]
}

test_empty_all_matches_everything if {
	p := _policy([], [[{"id": 0, "op": "all", "children": []}]], 0)
	conditions.matches(p, _values(p))
}

test_eight_levels_deep if {
	t := _leaf("tag", "", "equals", "v1.4.2")
	levels := [[{"id": n + 1, "op": "all", "children": [n]}] | some n in numbers.range(0, 7)]
	p := _policy([t], levels, 8)
	conditions.matches(p, _values(p))
}

test_flat_shapes if {
	t := _leaf("tag", "", "equals", "v1.4.2")
	f := _leaf("tag", "", "equals", "nope")
	all_of := {"leaves": [t, f], "levels": [[{"id": 2, "op": "all", "children": [0, 1]}]], "root": 2, "shape": "all"}
	not conditions.matches(all_of, _values(all_of))
	any_of := object.union(all_of, {"shape": "any"})
	conditions.matches(any_of, _values(any_of))
	empty := {"leaves": [], "levels": [[{"id": 0, "op": "all", "children": []}]], "root": 0, "shape": "all"}
	conditions.matches(empty, _values(empty))
}

test_prefix_and_suffix_are_string_tests if {
	conditions.holds("prefix", "tag", "prod-1", "prod-")
	not conditions.holds("prefix", "tag", "xprod-1", "prod-")
	conditions.holds("suffix", "repository", "a/api-svc", "-svc")
	not conditions.holds("suffix", "repository", "a/api-svc2", "-svc")
	conditions.holds("prefix", "label", null, "x") == false
	conditions.holds("suffix", "label", 3, "x") == false
}

# holds is one else chain (OPA entered all 14 definitions of the old form on
# every call): every operator on a subject of its type, and false (never
# undefined, never a built-in error) on a subject of another type or absent.
test_holds_every_operator_true_false_and_wrong_type if {
	[conditions.holds("equals", "tag", "a", "a"), conditions.holds("equals", "tag", "b", "a"), conditions.holds("equals", "tag", null, "a")] == [true, false, false]
	[conditions.holds("in", "tag", "b", ["a", "b"]), conditions.holds("in", "tag", "c", ["a", "b"]), conditions.holds("in", "tag", null, ["a"])] == [true, false, false]
	[conditions.holds("prefix", "tag", "v1", "v"), conditions.holds("prefix", "tag", "x1", "v"), conditions.holds("prefix", "tag", 3, "v")] == [true, false, false]
	[conditions.holds("suffix", "tag", "a-dev", "-dev"), conditions.holds("suffix", "tag", null, "-dev")] == [true, false]
	[conditions.holds("contains", "tag", "a-hf1-b", "hf1"), conditions.holds("contains", "tag", "ab", "hf1"), conditions.holds("contains", "tag", {}, "hf1")] == [true, false, false]
	[conditions.holds("matches", "tag", "v12", `^v[0-9]+$`), conditions.holds("matches", "tag", "v1x", `^v[0-9]+$`), conditions.holds("matches", "tag", null, `^v`)] == [true, false, false]
	[conditions.holds("lt", "metadata", 1, 2), conditions.holds("gt", "metadata", 1, 2), conditions.holds("lte", "metadata", 2, 2), conditions.holds("gte", "metadata", 1, 2)] == [true, false, true, false]
	[conditions.holds("lt", "metadata", "1", 2), conditions.holds("gt", "age", null, 2), conditions.holds("lte", "metadata", true, 2), conditions.holds("gte", "metadata", [], 2)] == [false, false, false, false]
	[conditions.holds("exists", "label", "", null), conditions.holds("exists", "tag", "", null), conditions.holds("exists", "metadata", 0, null), conditions.holds("exists", "label", null, null)] == [true, false, false, false]
	[conditions.holds("semver", "tag", "v1.5.0", _semver([[[">=", "1.0.0"], ["<", "2.0.0"]]])), conditions.holds("semver", "tag", "2.0.0", _semver([[["<", "2.0.0"]]])), conditions.holds("semver", "tag", null, _semver([[["<", "2.0.0"]]]))] == [true, false, false]
	conditions.holds("legacy_semver", "tag", null, {}) == false
}

test_holds_is_undefined_for_an_unknown_operator if {
	not conditions.holds("nonsense", "tag", "a", "a")
}

test_prefix_segment if {
	conditions.holds("prefix_segment", "repository", "team-42/app", "team-42/")
	conditions.holds("prefix_segment", "repository", "team-42/", "team-42/")
	not conditions.holds("prefix_segment", "repository", "team-42/app/x", "team-42/")
	not conditions.holds("prefix_segment", "repository", "x/team-42/app", "team-42/")
	not conditions.holds("prefix_segment", "repository", 42, "team-42/")
	not conditions.holds("prefix_segment", "repository", null, "team-42/")
}

_fimage := {"registry": "r", "repository": "a", "tag": "v1", "labels": {}}

_fnow := time.parse_rfc3339_ns("2026-11-23T12:00:00Z")

test_facts_at_is_facts_under_the_clock if {
	images := [
		_fimage,
		object.union(_fimage, {"created_at": "2026-11-20T10:00:00Z"}),
		object.union(_fimage, {"created_at": "2026-11-20T10:00:00.5+01:00"}),
		object.union(_fimage, {"created_at": "yesterday"}),
		object.union(_fimage, {"created_at": 5}),
		object.union(_fimage, {"age_ns": 7}),
		object.union(_fimage, {"age_ns": 7, "created_at": "2026-11-20T10:00:00Z"}),
	]
	every image in images {
		conditions.facts_at(image, _fnow) == conditions.facts(image, conditions.clock(image, _fnow))
	}
	conditions.facts_at(images[1], _fnow).age_ns == 266400000000000
	not conditions.facts_at(images[5], _fnow).age_ns
}

# check (op set by migrate/bundle/program.py check_op) is holds with negation
# applied, for every op and subjects of every type.
_check_cases := [
	["equals", "equals", "tag", false, "x"],
	["not_equals", "equals", "label", true, "x"],
	["in", "in", "tag", false, ["x", "5"]],
	["prefix", "prefix", "repository", false, "team-42/"],
	["prefix_segment", "prefix_segment", "repository", false, "team-42/"],
	["present", "exists", "label", false, null],
	["absent", "exists", "annotation", true, null],
	["present", "exists", "age", false, null],
	["absent", "exists", "age", true, null],
	["matches", "matches", "tag", false, `^v[0-9]+\.`],
	["lt", "lt", "metadata", false, 10],
	["gt", "gt", "metadata", false, 10],
	["exists", "exists", "tag", false, null],
	["not_exists", "exists", "tag", true, null],
	["exists", "exists", "metadata", false, null],
	["not_exists", "exists", "metadata", true, null],
	["not_in", "in", "tag", true, ["x"]],
	["not_prefix", "prefix", "repository", true, "team-42/"],
	["not_prefix_segment", "prefix_segment", "repository", true, "team-42/"],
	["not_matches", "matches", "tag", true, `^v`],
	["not_lt", "lt", "metadata", true, 10],
	["not_gt", "gt", "metadata", true, 10],
	["semver", "semver", "tag", false, {"alternatives": [[[">=", "1.0.0"]]], "prerelease": false}],
	["not_semver", "semver", "tag", true, {"alternatives": [[[">=", "1.0.0"]]], "prerelease": false}],
	["contains", "contains", "repository", false, "42"],
	["not_contains", "contains", "repository", true, "42"],
	["suffix", "suffix", "tag", false, ".3"],
	["not_suffix", "suffix", "tag", true, ".3"],
	["lte", "lte", "metadata", false, 10],
	["not_lte", "lte", "metadata", true, 10],
	["gte", "gte", "metadata", false, 10],
	["not_gte", "gte", "metadata", true, 10],
	["legacy_semver", "legacy_semver", "tag", false, _legacy_ge_1],
	["not_legacy_semver", "legacy_semver", "tag", true, _legacy_ge_1],
]

_legacy_ge_1 := [[{"op": "ge", "major": "1", "minor": "0", "patch": "0", "pre": "", "dirty": false, "minor_dirty": false, "patch_dirty": false}]]

_check_subjects := ["x", "", "team-42/app", "team-42/a/b", "v1.2.3", 5, 0, 10, 3000000000, null, true, ["x"]]

test_check_is_holds_with_negation if {
	every case in _check_cases {
		every s in _check_subjects {
			conditions.check(case[0], s, case[4]) == (conditions.holds(case[1], case[2], s, case[4]) != case[3])
		}
	}
}

# Every op the translator writes has a case above, and an op it does not
# write is not a check that holds.
test_check_covers_every_op if {
	ops := {case[0] | some case in _check_cases}
	count(ops) == 30
	# each case holds for some subject and fails for another
	every case in _check_cases {
		some s1 in _check_subjects
		conditions.check(case[0], s1, case[4])
		some s2 in _check_subjects
		not conditions.check(case[0], s2, case[4])
	}
	not conditions.check("leaf", "x", "x")
}

# Op "tree": a policy whose conditions no small list of ANDs expresses is
# one check of its whole tree, its subject every fact and its argument the
# policy's id (migrate/bundle/program.py tree_check). Here: tag "a" or
# (label team=x and not size > 10), as levels.
_tree_policy := {
	"id": "t", "shape": "tree", "root": 5,
	"leaves": [
		{"subject": ["tag"], "base": "equals", "type": "tag", "arg": "a", "negate": false, "about": {}},
		{"subject": ["labels", "team"], "base": "equals", "type": "label", "arg": "x", "negate": false, "about": {}},
		{"subject": ["size"], "base": "gt", "type": "metadata", "arg": 10, "negate": false, "about": {}},
	],
	"levels": [
		[{"id": 3, "op": "not", "children": [2]}],
		[{"id": 4, "op": "all", "children": [1, 3]}],
		[{"id": 5, "op": "any", "children": [0, 4]}],
	],
}

test_check_tree_evaluates_the_policy_named_by_its_argument if {
	cases := [
		[{"tag": "a", "labels": {}, "size": 99}, true],
		[{"tag": "b", "labels": {"team": "x"}, "size": 5}, true],
		[{"tag": "b", "labels": {"team": "x"}, "size": 50}, false],
		[{"tag": "b", "labels": {}, "size": 5}, false],
	]
	every case in cases {
		conditions.check("tree", case[0], "t") == case[1] with data.freightliner.policy_set.policies as {"t": _tree_policy}
	}
	# a policy id the set does not hold is a check that never holds
	not conditions.check("tree", {"tag": "a"}, "u") with data.freightliner.policy_set.policies as {"t": _tree_policy}
}
