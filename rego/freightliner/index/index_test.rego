package freightliner.index_test

import data.freightliner.index

_index := {
	"exact": {
		"repository": {"team/app": ["by-repo"]},
		"registry": {"ecr": ["by-registry"]},
		"tag": {"v1": ["by-tag"]},
		"label": {"environment": {"production": ["by-label"]}},
		"annotation": {"team": {"core": ["by-annotation"]}},
	},
	"prefix": {"tag": {"prod-": ["by-tag-prefix"]}, "repository": {"team/": ["by-repo-prefix"]}},
	"prefix_lengths": {"tag": [5], "repository": [5]},
	"suffix": {"repository": {"-svc": ["by-repo-suffix"]}},
	"suffix_lengths": {"repository": [4]},
	"always": ["always"],
}

test_candidates_by_every_key if {
	image := {
		"registry": "ecr", "repository": "team/app", "tag": "prod-1",
		"labels": {"environment": "production"}, "annotations": {"team": "core"},
	}
	cands := index.candidates(image) with data.freightliner.policy_set.index as _index
	cands == {
		"by-repo", "by-registry", "by-label", "by-annotation",
		"by-tag-prefix", "by-repo-prefix", "always",
	}
}

test_candidates_by_suffix if {
	image := {"registry": "gcr", "repository": "x/api-svc", "tag": "", "labels": {}, "annotations": {}}
	cands := index.candidates(image) with data.freightliner.policy_set.index as _index
	cands == {"by-repo-suffix", "always"}
}

test_suffixes if {
	index.suffixes("abcdé", [1, 2, 9]) == {"é", "dé"}
}

test_candidates_of_unrelated_image if {
	image := {"registry": "gcr", "repository": "other", "tag": "", "labels": {}, "annotations": {}}
	cands := index.candidates(image) with data.freightliner.policy_set.index as _index
	cands == {"always"}
}

test_prefixes if {
	index.prefixes("abc", [1, 3, 4]) == {"a", "abc"}
	index.prefixes("", [1]) == set()
}

test_index_without_prefixes if {
	image := {"registry": "gcr", "repository": "team/x", "tag": "prod-1", "labels": {}, "annotations": {}}
	cands := index.candidates(image) with data.freightliner.policy_set.index as {"exact": {}, "prefix": {}, "always": []}
	cands == set()
}
