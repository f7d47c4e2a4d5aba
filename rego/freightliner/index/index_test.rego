package freightliner.index_test

import data.freightliner.index

_index := {
	"exact": {
		"repository": {"team/app": ["by-repo"]},
		"registry": {"ecr": ["by-registry"]},
		"tag": {"v1": ["by-tag"]},
		"architecture": {"s390x": ["by-architecture"]},
		"label": {"environment": {"production": ["by-label"]}},
		"annotation": {"team": {"core": ["by-annotation"]}},
	},
	"exact_fields": ["architecture", "registry", "repository", "tag"],
	"prefix": {"tag": {"prod-": ["by-tag-prefix"]}, "repository": {"team/": ["by-repo-prefix"]}},
	"prefix_lengths": {"tag": [5], "repository": [5]},
	"suffix": {"repository": {"-svc": ["by-repo-suffix"]}},
	"suffix_lengths": {"repository": [4]},
	"contains": {"tag": {"hotfix": ["by-tag-literal"]}},
	"contains_lengths": {"tag": [6]},
	"composite": {"repository": {"team/": {"environment": {"production": ["by-team-production"]}}}},
	"composite_lengths": {"repository": [5]},
	"always": ["always"],
}

test_candidates_by_every_key if {
	image := {
		"registry": "ecr", "repository": "team/app", "tag": "prod-1", "architecture": "s390x",
		"labels": {"environment": "production"}, "annotations": {"team": "core"},
	}
	cands := index.candidates(image, image) with data.freightliner.policy_set.index as _index
	cands == {
		"by-repo", "by-registry", "by-architecture", "by-label", "by-annotation",
		"by-tag-prefix", "by-repo-prefix", "by-team-production", "always",
	}
}

test_candidates_by_required_literal if {
	image := {"registry": "gcr", "repository": "x/y", "tag": "1.2-hotfix3", "labels": {}, "annotations": {}}
	cands := index.candidates(image, image) with data.freightliner.policy_set.index as _index
	cands == {"by-tag-literal", "always"}
}

test_composite_needs_both_prefix_and_label if {
	staging := {"registry": "gcr", "repository": "team/x", "tag": "", "labels": {"environment": "staging"}, "annotations": {}}
	staging_cands := index.candidates(staging, staging) with data.freightliner.policy_set.index as _index
	staging_cands == {"by-repo-prefix", "always"}
	other := {"registry": "gcr", "repository": "lab/x", "tag": "", "labels": {"environment": "production"}, "annotations": {}}
	other_cands := index.candidates(other, other) with data.freightliner.policy_set.index as _index
	other_cands == {"by-label", "always"}
}

test_substrings if {
	index.substrings("abcd", [2, 5]) == {"ab", "bc", "cd"}
	index.substrings("", [1]) == set()
}

test_candidates_by_suffix if {
	image := {"registry": "gcr", "repository": "x/api-svc", "tag": "", "labels": {}, "annotations": {}}
	cands := index.candidates(image, image) with data.freightliner.policy_set.index as _index
	cands == {"by-repo-suffix", "always"}
}

test_suffixes if {
	index.suffixes("abcdé", [1, 2, 9]) == {"é", "dé"}
}

test_candidates_of_unrelated_image if {
	image := {"registry": "gcr", "repository": "other", "tag": "", "labels": {}, "annotations": {}}
	cands := index.candidates(image, image) with data.freightliner.policy_set.index as _index
	cands == {"always"}
}

test_prefixes if {
	index.prefixes("abc", [1, 3, 4]) == {"a", "abc"}
	index.prefixes("", [1]) == set()
}

test_index_without_prefixes if {
	image := {"registry": "gcr", "repository": "team/x", "tag": "prod-1", "labels": {}, "annotations": {}}
	cands := index.candidates(image, image) with data.freightliner.policy_set.index as {"exact": {}, "prefix": {}, "always": []}
	cands == set()
}

test_guarded_policies_are_candidates_when_their_guard_holds if {
	guarded := {"exact": {}, "always": ["tree"], "guarded": [
		{"id": "unscanned", "subject": ["labels", "scan"], "base": "exists", "type": "label", "arg": null, "negate": true},
		{"id": "old", "subject": ["age_ns"], "base": "gt", "type": "age", "arg": 10, "negate": false},
	]}
	image := {"registry": "gcr", "repository": "x", "tag": "", "labels": {"scan": "ok"}, "annotations": {}}
	scanned := index.candidates(image, object.union(image, {"age_ns": 5})) with data.freightliner.policy_set.index as guarded
	scanned == {"tree"}
	unscanned := object.union(object.remove(image, ["labels"]), {"labels": {}})
	both := index.candidates(unscanned, object.union(unscanned, {"age_ns": 11})) with data.freightliner.policy_set.index as guarded
	both == {"tree", "unscanned", "old"}
}

_guards := {
	"exact": {}, "exact_fields": [], "always": [],
	"guarded": [{"id": "by-tag-exists", "subject": ["tag"], "base": "exists", "type": "tag", "arg": null, "negate": false}],
	"guarded_above": [{"id": "big", "subject": ["size"], "base": "gt", "type": "metadata", "arg": 100, "negate": false}],
	"guarded_below": [{"id": "small", "subject": ["size"], "base": "lt", "type": "metadata", "arg": 10, "negate": false}],
	"guarded_absent": [{"id": "unscanned", "subject": ["labels", "scan"], "base": "exists", "type": "label", "arg": null, "negate": true}],
}

_guard_candidates(image) := c if {
	c := index.candidates(image, image) with data.freightliner.policy_set.index as _guards
}

test_inline_guards if {
	_guard_candidates({"tag": "v1", "size": 500, "labels": {}}) == {"by-tag-exists", "big", "unscanned"}
	_guard_candidates({"tag": "", "size": 5, "labels": {"scan": ""}}) == {"small"}
	_guard_candidates({"size": 50, "labels": {"scan": "ok"}}) == set()

	# a size that is not a number is neither above nor below anything; no labels at all: absent
	_guard_candidates({"size": "500"}) == {"unscanned"}
}

# An index that says "extended": false is read through core alone (the
# translator says so only when the other tables are empty: here they are
# not, to show they are skipped); "extended": true, or no key at all (an
# older bundle), reads every table.
_every_key_image := {
	"registry": "ecr", "repository": "team/app", "tag": "prod-1", "architecture": "s390x",
	"labels": {"environment": "production"}, "annotations": {"team": "core"},
}

_core_ids := {"by-repo", "by-registry", "by-architecture", "by-label", "by-tag-prefix", "by-repo-prefix"}

test_extended_false_reads_the_core_tables_only if {
	core_only := object.union(_index, {"extended": false})
	cands := index.candidates(_every_key_image, _every_key_image) with data.freightliner.policy_set.index as core_only
	cands == _core_ids
}

test_extended_true_or_absent_reads_every_table if {
	every flag in [{"extended": true}, {}] {
		idx := object.union(_index, flag)
		cands := index.candidates(_every_key_image, _every_key_image) with data.freightliner.policy_set.index as idx
		cands == _core_ids | {"by-annotation", "by-team-production", "always"}
	}
}
