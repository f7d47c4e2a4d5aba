# METADATA
# title: Actions
# description: |
#   Renders matched policies' actions (templates in target_repo and
#   target_tag) and resolves conflicts between block and replicate.
#   The rules are documented in docs/policies.md ("Priority and conflicts").
package freightliner.actions

import data.freightliner.legacy

# METADATA
# title: image_vars
# description: |
#   The template variables that depend only on the image, computed once per
#   decision: registry, repository and tag ("" when the image has none), and
#   match and legacy as they are for an action with no match_prefix,
#   match_suffix or legacy destination (the repository, and "").
image_vars(image) := {
	"registry": object.get(image, "registry", ""),
	"repository": repository,
	"tag": object.get(image, "tag", ""),
	"match": repository,
	"legacy": "",
} if {
	repository := object.get(image, "repository", "")
}

# The variables of one action: the image's, with match (the repository
# without the action's match_prefix and match_suffix) and legacy (a converted
# legacy rule's destination) for actions that have them.
_action_vars(action, vars) := vars if plain(action) else := object.union(vars, {
	"match": trim_suffix(trim_prefix(vars.repository, action.match_prefix), action.match_suffix),
	"legacy": legacy.target(object.get(action, "legacy_destination", null), vars.repository),
})

# METADATA
# title: plain
# description: |
#   Whether an action's variables are the image's alone (image_vars): no
#   match_prefix, match_suffix or legacy destination. Decisions render
#   these actions inline (replication.decide), the others with render_with.
plain(action) if {
	action.match_prefix == ""
	action.match_suffix == ""
	not action.legacy_destination
}

# METADATA
# title: render_template
# description: |
#   Renders a compiled template for an image and an action: a list of parts,
#   each {"text": literal, "var": ""} or {"text": "", "var": name}; a part's
#   value is its variable's (see image_vars), else its text.
render_template(parts, image, action) := concat("", [object.get(vars, part.var, part.text) | some part in parts]) if {
	vars := _action_vars(action, image_vars(image))
}

# METADATA
# title: render
# description: One matched policy's action, ready to execute (see render_with).
render(action, policy, image) := render_with(action, policy.id, policy.priority, image_vars(image))

# METADATA
# title: render_with
# description: |
#   render, given the policy's id and priority and the image's variables
#   (image_vars, computed once per decision; this runs for every action of
#   every matched policy, so render_template is written out inline; the
#   compiled policy is not an argument: passing it made each call slower in
#   OPA, docs/benchmarks.md). platforms ("all" or "allowed") and with_referrers
#   (false unless the policy says true) default for bundles compiled before
#   they existed.
render_with(action, id, priority, image_vars) := {
	"type": action.type,
	"target_registry": action.target_registry,
	"target_repo": concat("", [object.get(vars, part.var, part.text) | some part in action.target_repo]),
	"target_tag": concat("", [object.get(vars, part.var, part.text) | some part in action.target_tag]),
	"parameters": action.parameters,
	"retry_policy": action.retry_policy,
	"policy_ids": [id],
	"priority": priority,
	"platforms": object.get(action, "platforms", "all"),
	"with_referrers": object.get(action, "with_referrers", false),
} if {
	vars := _action_vars(action, image_vars)
}

# A block covers a replicate when its priority is at least the replicate's and
# it names no target registry or the replicate's.
_covers(block, replicate) if {
	block.priority >= replicate.priority
	block.target_registry in {"", replicate.target_registry}
}

# The key that orders actions (higher priority first, then policy id, then
# target) and the target that identifies duplicates: replications to the same
# target are one copy, whatever their parameters; blocks and notifications are
# the same only with the same parameters. Each entry of the sorted list is
# [order key, target, action].
_keyed(a) := [[0 - a.priority, a.policy_ids[0], a.target_registry, a.target_repo, a.target_tag], [a.type, a.target_registry, a.target_repo, a.target_tag], a] if {
	a.type == "replicate"
} else := [[0 - a.priority, a.policy_ids[0], a.target_registry, a.target_repo, a.target_tag], [a.type, a.target_registry, a.target_repo, a.target_tag, a.parameters], a]

# Merges actions with the same target: the first in priority order is kept,
# with every contributing policy id (each once, in that order). One sort by
# target (then order key) puts each target's actions next to each other, in
# priority order; one pass finds where each target's run starts and ends; a
# second sort puts the merged actions in order. O(n log n) for n actions
# (the earlier version compared each action with every one before it).
# Fewer than two actions, or actions with distinct targets (the common case,
# decided first), have nothing to merge; nor have blocks or notifications
# whose targets and parameters differ. (All the actions merged together are
# of one type.)
_merge(actions) := actions if {
	count(actions) < 2
} else := [actions[key[5]] |
	# no two actions share a target: nothing to merge, only to order
	some key in sort([[0 - a.priority, a.policy_ids[0], a.target_registry, a.target_repo, a.target_tag, i] | some i, a in actions])
] if {
	count({[a.target_registry, a.target_repo, a.target_tag] | some a in actions}) == count(actions)
} else := [actions[key[6]] |
	# blocks or notifications that share a target but not their parameters
	# (two blocks with different reasons): nothing to merge either; ordered
	# as below (equal order keys by parameters)
	some key in sort([[0 - a.priority, a.policy_ids[0], a.target_registry, a.target_repo, a.target_tag, a.parameters, i] | some i, a in actions])
] if {
	actions[0].type != "replicate"
	count({[a.target_registry, a.target_repo, a.target_tag, a.parameters] | some a in actions}) == count(actions)
} else := [entry[2] |
	some entry in sort([[order, target, _merged(grouped, run, ends[k])] |
		grouped := sort({[e[1], e[0], e[2]] | some a in actions; e := _keyed(a)})
		runs := [i | some i, g in grouped; _run_starts(grouped, i)]
		ends := array.concat(array.slice(runs, 1, count(runs)), [count(grouped)])
		some k, run in runs
		first := grouped[run]
		order := first[1]
		target := first[0]
	])
]

_run_starts(_, 0) := true

_run_starts(grouped, i) := true if {
	i > 0
	prev := grouped[i - 1]
	this := grouped[i]
	prev[0] != this[0]
}

# (A ref with two brackets, like entry[2].policy_ids[0], costs regorus ~10 us:
# each entry is bound first.)
_merged(grouped, start, end) := object.union(action, {"policy_ids": [id |
	some k, id in ids
	_first_of_its_id(ids, k)
]}) if {
	first := grouped[start]
	action := first[2]
	ids := [a.policy_ids[0] | some j in numbers.range(start, end - 1); e := grouped[j]; a := e[2]]
}

# Within one target the actions are ordered by priority then policy id, so
# repeats of an id are adjacent.
_first_of_its_id(_, 0) := true

_first_of_its_id(ids, k) := true if {
	k > 0
	ids[k - 1] != ids[k]
}

# METADATA
# title: resolve
# description: |
#   From every rendered action of the matched policies, the actions to
#   execute: surviving replicates, the blocks that stopped something (every
#   block when no replicate survives), and every notification.
resolve(rendered) := {"replicate": [], "block": [], "notify": []} if {
	count(rendered) == 0
} else := {
	"replicate": _merge(replicates),
	"block": [],
	"notify": _merge([a | some a in rendered; a.type == "notify"]),
} if {
	# no block: every replicate survives (the common case, decided directly)
	not _has_block(rendered)
	replicates := [a | some a in rendered; a.type == "replicate"]
} else := {
	"replicate": _merge(surviving),
	"block": _merge(blocks_in_force),
	"notify": _merge([a | some a in rendered; a.type == "notify"]),
} if {
	replicates := [a | some a in rendered; a.type == "replicate"]
	blocks := [a | some a in rendered; a.type == "block"]
	surviving := [r | some r in replicates; not _blocked(r, blocks)]
	blocks_in_force := _blocks_in_force(blocks, replicates, surviving)
}

_has_block(rendered) if {
	some a in rendered
	a.type == "block"
}

_blocked(replicate, blocks) if {
	some block in blocks
	_covers(block, replicate)
}

_blocks_in_force(blocks, _, surviving) := blocks if count(surviving) == 0

_blocks_in_force(blocks, replicates, surviving) := [b |
	some b in blocks
	some r in replicates
	_covers(b, r)
] if count(surviving) > 0
