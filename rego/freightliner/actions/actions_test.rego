package freightliner.actions_test

import data.freightliner.actions

_image := {"registry": "src", "repository": "team/app-svc", "tag": "v1"}

_action(type, registry, priority, policy) := {
	"type": type, "target_registry": registry, "target_repo": "r", "target_tag": "t",
	"parameters": {}, "retry_policy": null, "policy_ids": [policy], "priority": priority,
}

_text(t) := {"text": t, "var": ""}

_var(name) := {"text": "", "var": name}

test_render_template_parts if {
	parts := [_text("mirror/"), _var("repository"), _text(":"), _var("tag"), _var("registry")]
	actions.render_template(parts, _image, {"match_prefix": "", "match_suffix": ""}) == "mirror/team/app-svc:v1src"
}

test_render_match if {
	action := {"match_prefix": "team/", "match_suffix": "-svc"}
	actions.render_template([_text("x/"), _var("match")], _image, action) == "x/app"
}

test_render_does_not_expand_placeholders_in_values if {
	image := {"registry": "src", "repository": "{tag}", "tag": "v1"}
	actions.render_template([_var("repository")], image, {"match_prefix": "", "match_suffix": ""}) == "{tag}"
}

test_block_at_higher_priority_wins if {
	result := actions.resolve([_action("replicate", "ecr", 100, "p"), _action("block", "", 200, "b")])
	result.replicate == []
	[b.policy_ids | some b in result.block] == [["b"]]
}

test_block_at_equal_priority_wins if {
	result := actions.resolve([_action("replicate", "ecr", 100, "p"), _action("block", "", 100, "b")])
	result.replicate == []
}

test_replicate_at_higher_priority_overrides_block if {
	result := actions.resolve([_action("replicate", "ecr", 300, "p"), _action("block", "", 200, "b")])
	[r.policy_ids | some r in result.replicate] == [["p"]]
	result.block == []
}

test_block_scoped_to_a_registry if {
	result := actions.resolve([
		_action("replicate", "ecr", 100, "p"),
		_action("replicate", "gcr", 100, "p"),
		_action("block", "gcr", 200, "b"),
	])
	[r.target_registry | some r in result.replicate] == ["ecr"]
	[b.target_registry | some b in result.block] == ["gcr"]
}

test_duplicate_targets_merged_highest_priority_first if {
	result := actions.resolve([_action("replicate", "ecr", 10, "low"), _action("replicate", "ecr", 50, "high")])
	count(result.replicate) == 1
	result.replicate[0].policy_ids == ["high", "low"]
	result.replicate[0].priority == 50
}

test_notifications_always_kept if {
	n := object.union(_action("notify", "", 1, "n"), {"parameters": {"url": "http://127.0.0.1/hook"}})
	result := actions.resolve([n, _action("block", "", 200, "b")])
	count(result.notify) == 1
}

_compiled(extra) := object.union({
	"type": "replicate", "target_registry": "ecr", "target_repo": [_var("repository")], "target_tag": [_var("tag")],
	"match_prefix": "", "match_suffix": "", "parameters": {}, "retry_policy": null,
}, extra)

test_render_carries_platforms_and_with_referrers if {
	rendered := actions.render(_compiled({"platforms": "allowed", "with_referrers": true}), {"id": "p", "priority": 3}, _image)
	rendered == {
		"type": "replicate", "target_registry": "ecr", "target_repo": "team/app-svc", "target_tag": "v1",
		"parameters": {}, "retry_policy": null, "policy_ids": ["p"], "priority": 3,
		"platforms": "allowed", "with_referrers": true,
	}
}

test_render_defaults_for_bundles_without_the_fields if {
	rendered := actions.render(_compiled({}), {"id": "p", "priority": 0}, _image)
	rendered.platforms == "all"
	rendered.with_referrers == false
}

test_duplicate_targets_keep_the_highest_priority_platforms_mode if {
	low := object.union(_action("replicate", "ecr", 10, "low"), {"platforms": "allowed", "with_referrers": true})
	high := object.union(_action("replicate", "ecr", 50, "high"), {"platforms": "all", "with_referrers": false})
	result := actions.resolve([low, high])
	[[r.platforms, r.with_referrers, r.policy_ids] | some r in result.replicate] == [["all", false, ["high", "low"]]]
}

test_render_fills_each_variable if {
	action := {
		"type": "replicate", "target_registry": "ecr", "match_prefix": "team/", "match_suffix": "-svc",
		"target_repo": [_var("registry"), _text("/"), _var("repository"), _text("/"), _var("match"), _var("legacy"), _var("unknown")],
		"target_tag": [_var("tag"), _text("-x")],
		"parameters": {}, "retry_policy": null,
	}
	rendered := actions.render(action, {"id": "p", "priority": 1}, _image)
	[rendered.target_repo, rendered.target_tag] == ["src/team/app-svc/app", "v1-x"]
}

test_render_of_an_image_without_tag_or_registry if {
	parts := [_var("registry"), _text(":"), _var("tag")]
	actions.render_template(parts, {"repository": "a"}, {"match_prefix": "", "match_suffix": ""}) == ":"
}

test_distinct_targets_ordered_by_priority_then_policy if {
	a := object.union(_action("replicate", "ecr", 10, "z"), {"target_repo": "r1"})
	b := object.union(_action("replicate", "gcr", 50, "y"), {"target_repo": "r2"})
	c := object.union(_action("replicate", "ecr", 50, "x"), {"target_repo": "r3"})
	result := actions.resolve([a, b, c])
	[[r.policy_ids, r.target_registry, r.target_repo] | some r in result.replicate] == [[["x"], "ecr", "r3"], [["y"], "gcr", "r2"], [["z"], "ecr", "r1"]]
}

test_blocks_with_one_target_and_different_reasons_stay_apart if {
	a := object.union(_action("block", "", 900, "old"), {"parameters": {"reason": "too old"}})
	b := object.union(_action("block", "", 1000, "scan"), {"parameters": {"reason": "no scan"}})
	c := object.union(_action("block", "", 900, "old"), {"parameters": {"reason": "also"}})
	d := object.union(_action("block", "", 1000, "scan"), {"parameters": {"reason": "no scan"}})
	result := actions.resolve([a, b, c, d])
	[[r.policy_ids, r.parameters.reason] | some r in result.block] == [[["scan"], "no scan"], [["old"], "also"], [["old"], "too old"]]
	fast := actions.resolve([a, b, c])
	[[r.policy_ids, r.parameters.reason] | some r in fast.block] == [[["scan"], "no scan"], [["old"], "also"], [["old"], "too old"]]
}
