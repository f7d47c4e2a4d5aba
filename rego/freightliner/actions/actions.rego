# METADATA
# title: Actions
# description: |
#   Renders matched policies' actions (templates in target_repo and
#   target_tag) and resolves conflicts between block and replicate.
#   The rules are documented in docs/policies.md ("Priority and conflicts").
package freightliner.actions

import data.freightliner.legacy

# METADATA
# title: template_vars
# description: |
#   The values of a template's variables for an image and an action:
#   registry, repository and tag ("" when the image has none), and match
#   (the repository without the action's match_prefix and match_suffix), and
#   legacy (a converted legacy rule's destination, "" for other actions).
template_vars(image, action) := {
	"registry": object.get(image, "registry", ""),
	"repository": repository,
	"tag": object.get(image, "tag", ""),
	"match": trim_suffix(trim_prefix(repository, action.match_prefix), action.match_suffix),
	"legacy": legacy.target(object.get(action, "legacy_destination", null), repository),
} if {
	repository := object.get(image, "repository", "")
}

# METADATA
# title: fill
# description: |
#   Fills a compiled template: a list of parts, each {"text": literal, "var": ""}
#   or {"text": "", "var": name}. A part's value is its variable's, else its text.
fill(parts, vars) := concat("", [object.get(vars, part.var, part.text) | some part in parts])

# METADATA
# title: render_template
# description: Renders a compiled template for an image and an action (see fill).
render_template(parts, image, action) := fill(parts, template_vars(image, action))

# METADATA
# title: render
# description: |
#   One matched policy's action, ready to execute (runs for every action of
#   every matched policy, so fill is written out inline). platforms ("all" or
#   "allowed") and with_referrers (false unless the policy says true) default
#   for bundles compiled before they existed.
render(action, policy, image) := {
	"type": action.type,
	"target_registry": action.target_registry,
	"target_repo": concat("", [object.get(vars, part.var, part.text) | some part in action.target_repo]),
	"target_tag": concat("", [object.get(vars, part.var, part.text) | some part in action.target_tag]),
	"parameters": action.parameters,
	"retry_policy": action.retry_policy,
	"policy_ids": [policy.id],
	"priority": policy.priority,
	"platforms": object.get(action, "platforms", "all"),
	"with_referrers": object.get(action, "with_referrers", false),
} if {
	vars := template_vars(image, action)
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
# Fewer than two actions have nothing to merge.
_merge(actions) := actions if {
	count(actions) < 2
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
