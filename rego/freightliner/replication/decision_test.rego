package freightliner.replication_test

import data.freightliner.replication

# The two example policies (examples/policies/seed.yaml, docs/policies.md), in compiled form (as the translator
# writes them into data.json).
_production := {
	"id": "production-replication", "name": "Production Image Replication",
	"priority": 100, "enabled": true, "schedule": "",
	"leaves": [
		{"path": "conditions[0]", "type": "tag", "key": "", "subject": ["tag"], "operator": "matches", "value": "^prod-.*", "about": {"path": "conditions[0]", "type": "tag", "key": "", "operator": "matches", "value": "^prod-.*"}, "base": "matches", "negate": false, "arg": "^prod-.*"},
		{"path": "conditions[1]", "type": "label", "key": "environment", "subject": ["labels", "environment"], "operator": "equals", "value": "environment=production", "about": {"path": "conditions[1]", "type": "label", "key": "environment", "operator": "equals", "value": "environment=production"}, "base": "equals", "negate": false, "arg": "production"},
	],
	"levels": [[{"id": 2, "op": "all", "children": [0, 1]}]], "root": 2, "shape": "all",
	"checked": true,
	"alternatives": [[
		{"subject": ["labels", "environment"], "base": "equals", "type": "label", "arg": "production", "negate": false, "op": "equals"},
		{"subject": ["tag"], "base": "prefix", "type": "tag", "arg": "prod-", "negate": false, "op": "prefix"},
	]],
	"actions": [
		{"type": "replicate", "target_registry": "ecr", "target_repo": [{"text": "production/", "var": ""}, {"text": "", "var": "repository"}], "target_tag": [{"text": "", "var": "tag"}], "match_prefix": "", "match_suffix": "", "parameters": {}, "retry_policy": null},
		{"type": "replicate", "target_registry": "gcr", "target_repo": [{"text": "prod-mirror/", "var": ""}, {"text": "", "var": "repository"}], "target_tag": [{"text": "", "var": "tag"}], "match_prefix": "", "match_suffix": "", "parameters": {}, "retry_policy": null},
	],
}

_compliance := {
	"id": "compliance-blocking", "name": "Block Non-Compliant Images",
	"priority": 200, "enabled": true, "schedule": "",
	"leaves": [{"path": "conditions[0]", "type": "label", "key": "security.scan.status", "subject": ["labels", "security.scan.status"], "operator": "not_exists", "value": "security.scan.status", "about": {"path": "conditions[0]", "type": "label", "key": "security.scan.status", "operator": "not_exists", "value": "security.scan.status"}, "base": "exists", "negate": true, "arg": null}],
	"levels": [[{"id": 1, "op": "all", "children": [0]}]], "root": 1, "shape": "all",
	"checked": true,
	"alternatives": [[{"subject": ["labels", "security.scan.status"], "base": "exists", "type": "label", "arg": null, "negate": true, "op": "absent"}]],
	"actions": [{"type": "block", "target_registry": "", "target_repo": [], "target_tag": [], "match_prefix": "", "match_suffix": "", "parameters": {"reason": "Missing security scan"}, "retry_policy": null}],
}

_policy_set := {
	"policies": {"production-replication": _production, "compliance-blocking": _compliance},
	"index": {
		"exact": {},
		"prefix": {"tag": {"prod-": ["production-replication"]}},
		"prefix_lengths": {"tag": [5]},
		"always": ["compliance-blocking"],
	},
}

_image := {
	"registry": "docker-hub", "repository": "team/app", "tag": "prod-v1.0.0",
	"labels": {"environment": "production", "security.scan.status": "passed"}, "annotations": {},
}

_now := time.parse_rfc3339_ns("2026-11-23T12:00:00Z")

test_scanned_production_image_replicates_to_both_targets if {
	d := replication.decide(_image, _now, true) with data.freightliner.policy_set as _policy_set
	d.should_replicate
	d.metadata.outcome == "replicate"
	d.matched_policies == ["production-replication"]
	[[a.type, a.target_registry, a.target_repo, a.target_tag] | some a in d.actions] == [
		["replicate", "ecr", "production/team/app", "prod-v1.0.0"],
		["replicate", "gcr", "prod-mirror/team/app", "prod-v1.0.0"],
	]
}

test_unscanned_image_is_blocked if {
	d := replication.decide(object.union(object.remove(_image, ["labels"]), {"labels": {"environment": "production"}}), _now, true) with data.freightliner.policy_set as _policy_set
	not d.should_replicate
	d.metadata.outcome == "block"
	d.reason == "Missing security scan"
	d.matched_policies == ["compliance-blocking", "production-replication"]
	[a.type | some a in d.actions] == ["block"]
}

test_no_match if {
	d := replication.decide(object.union(_image, {"tag": "dev-1"}), _now, true) with data.freightliner.policy_set as _policy_set
	not d.should_replicate
	d.actions == []
	d.matched_policies == []
	d.metadata.outcome == "no_match"
	d.reason == "no policy matched the image"
}

test_index_limits_candidates if {
	d := replication.decide(object.union(_image, {"tag": "dev-1"}), _now, true) with data.freightliner.policy_set as _policy_set
	d.metadata.candidates == 1
	[e.policy_id | some e in d.explanation] == ["compliance-blocking"]
}

test_explanation_lists_every_leaf if {
	d := replication.decide(_image, _now, true) with data.freightliner.policy_set as _policy_set
	some e in d.explanation
	e.policy_id == "production-replication"
	[[c.path, c.matched, c.actual] | some c in e.conditions] == [
		["conditions[0]", true, "prod-v1.0.0"],
		["conditions[1]", true, "production"],
	]
}

# evaluate_policy (what generated tests call) and decide (which writes the
# same steps out inline) must agree on every policy.
test_evaluate_policy_agrees_with_decide if {
	every image in [
		_image,
		object.union(_image, {"labels": {"environment": "production"}}),
		object.union(_image, {"tag": "dev-1"}),
	] {
		d := replication.decide(image, _now, true) with data.freightliner.policy_set as _policy_set
		count(d.explanation) > 0
		every e in d.explanation {
			replication.evaluate_policy(_policy_set.policies[e.policy_id], image, _now).explanation == e
		}
	}
}

test_evaluate_policy_renders_the_decided_actions if {
	d := replication.decide(_image, _now, true) with data.freightliner.policy_set as _policy_set
	rendered := [a |
		some e in d.explanation
		some a in replication.evaluate_policy(_policy_set.policies[e.policy_id], _image, _now).actions
	]
	rendered == d.actions
}

test_disabled_policy_never_matches if {
	disabled := object.union(_policy_set, {"policies": {"production-replication": object.union(_production, {"enabled": false})}})
	d := replication.decide(_image, _now, true) with data.freightliner.policy_set as disabled
	d.matched_policies == []
}

test_decision_reads_input_and_data if {
	d := replication.decision with data.freightliner.policy_set as _policy_set
		with input as {"image": _image, "now": "2026-11-23T12:00:00Z"}
	d.metadata.outcome == "replicate"
}

test_batch_decisions_in_order if {
	ds := replication.decisions with data.freightliner.policy_set as _policy_set
		with input as {"images": [_image, object.union(_image, {"tag": "dev-1"})], "now": "2026-11-23T12:00:00Z"}
	[d.metadata.outcome | some d in ds] == ["replicate", "no_match"]
}

# Without explain, no condition lines; everything else is the explained
# decision (candidates and verdicts included).
test_unexplained_decision_has_no_condition_lines if {
	for_images := [_image, object.union(_image, {"tag": "dev-1"}), object.union(_image, {"labels": {}})]
	every image in for_images {
		full := replication.decide(image, _now, true) with data.freightliner.policy_set as _policy_set
		short := replication.decide(image, _now, false) with data.freightliner.policy_set as _policy_set
		object.remove(full, ["explanation"]) == object.remove(short, ["explanation"])
		[[e.policy_id, e.priority, e.matched] | some e in full.explanation] == [[e.policy_id, e.priority, e.matched] | some e in short.explanation]
		[e.conditions | some e in short.explanation] == [[] | some _ in short.explanation]
		count(full.explanation) == full.metadata.candidates
	}
}

test_unexplained_explanation_of_a_match if {
	d := replication.decide(_image, _now, false) with data.freightliner.policy_set as _policy_set
	d.explanation == [
		{"policy_id": "compliance-blocking", "priority": 200, "matched": false, "conditions": []},
		{"policy_id": "production-replication", "priority": 100, "matched": true, "conditions": []},
	]
}

test_decision_explains_on_request if {
	d := replication.decision with data.freightliner.policy_set as _policy_set
		with input as {"image": object.union(_image, {"tag": "dev-1"}), "now": "2026-11-23T12:00:00Z", "explain": true}
	[e.conditions[0].path | some e in d.explanation] == ["conditions[0]"]
	d2 := replication.decision with data.freightliner.policy_set as _policy_set
		with input as {"image": object.union(_image, {"tag": "dev-1"}), "now": "2026-11-23T12:00:00Z"}
	[e.conditions | some e in d2.explanation] == [[]]
}

# passing decides each kind of policy: one AND, alternatives, a tree (one
# check of op "tree", whose argument is the policy's id), a disabled tree.
_tag_leaf(tag) := {"path": "conditions[0]", "type": "tag", "key": "", "subject": ["tag"], "operator": "equals", "value": tag, "about": {}, "base": "equals", "negate": false, "arg": tag}

_tag_check(tag) := {"subject": ["tag"], "base": "equals", "type": "tag", "arg": tag, "negate": false, "op": "equals"}

_tree(id, enabled) := {
	"id": id, "priority": 0, "enabled": enabled, "leaves": [_tag_leaf("c")],
	"levels": [[{"id": 1, "op": "all", "children": [0]}]], "root": 1, "shape": "all",
	"checked": false, "alternatives": [[_tree_check(id)]], "actions": [],
}

_tree_check(id) := {"subject": [], "base": "tree", "type": "", "arg": id, "negate": false, "op": "tree"}

_kinds := {"policies": {
	"chk": {"id": "chk", "priority": 0, "enabled": true, "checked": true, "alternatives": [[_tag_check("a")]], "actions": []},
	"alt": {"id": "alt", "priority": 0, "enabled": true, "checked": false, "alternatives": [[_tag_check("a")], [_tag_check("b")]], "actions": []},
	"tree": _tree("tree", true),
	"off": _tree("off", false),
}}

_passing_expected := {"a": {"alt", "chk"}, "b": {"alt"}, "c": {"tree"}, "d": set()}

test_passing_decides_each_kind_of_policy if {
	ids := {"alt", "tree", "off", "chk"}
	every tag, expected in _passing_expected {
		replication.passing(ids, {"tag": tag}) == expected with data.freightliner.policy_set as _kinds
	}
}
