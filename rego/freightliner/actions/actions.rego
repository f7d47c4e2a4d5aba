# METADATA
# title: Actions
# description: |
#   Renders matched policies' actions (templates in target_repo and
#   target_tag) and resolves conflicts between block and replicate.
#   The rules are documented in docs/policies.md ("Priority and conflicts").
package freightliner.actions

# METADATA
# title: render_template
# description: Renders a compiled template (a list of text and variable parts).
render_template(parts, image, action) := concat("", [_part(part, image, action) | some part in parts])

# One else chain: a part is text, a plain image field, or {match}.
_part(part, image, action) := part.text if {
	is_string(part.text)
} else := image[part.var] if {
	part.var in {"registry", "repository", "tag"}
} else := trim_suffix(trim_prefix(image.repository, action.match_prefix), action.match_suffix) if {
	part.var == "match"
}

# METADATA
# title: render
# description: One matched policy's action, ready to execute.
render(action, policy, image) := {
	"type": action.type,
	"target_registry": action.target_registry,
	"target_repo": render_template(action.target_repo, image, action),
	"target_tag": render_template(action.target_tag, image, action),
	"parameters": action.parameters,
	"retry_policy": action.retry_policy,
	"policy_ids": [policy.id],
	"priority": policy.priority,
}

# A block covers a replicate when its priority is at least the replicate's and
# it names no target registry or the replicate's.
_covers(block, replicate) if {
	block.priority >= replicate.priority
	block.target_registry in {"", replicate.target_registry}
}

_order_key(a) := [0 - a.priority, a.policy_ids[0], a.target_registry, a.target_repo, a.target_tag]

# Replications to the same target are one copy, whatever their parameters;
# blocks and notifications are the same only with the same parameters.
_target(a) := [a.type, a.target_registry, a.target_repo, a.target_tag] if a.type == "replicate"

_target(a) := [a.type, a.target_registry, a.target_repo, a.target_tag, a.parameters] if a.type != "replicate"

# Merges actions with the same target: the first in priority order is kept,
# with every contributing policy id. One sort, then linear passes.
_merge(actions) := [object.union(entry[2], {"policy_ids": _contributors(entry[1], ordered)}) |
	ordered := sort({[_order_key(a), _target(a), a] | some a in actions})
	some i, entry in ordered
	not _seen_before(ordered, i, entry[1])
]

_seen_before(ordered, i, target) if {
	some j, other in ordered
	j < i
	other[1] == target
}

_contributors(target, ordered) := [id |
	ids := [entry[2].policy_ids[0] | some entry in ordered; entry[1] == target]
	some k, id in ids
	not id in array.slice(ids, 0, k)
]

# METADATA
# title: resolve
# description: |
#   From every rendered action of the matched policies, the actions to
#   execute: surviving replicates, the blocks that stopped something (every
#   block when no replicate survives), and every notification.
resolve(rendered) := {
	"replicate": _merge(surviving),
	"block": _merge(blocks_in_force),
	"notify": _merge([a | some a in rendered; a.type == "notify"]),
} if {
	replicates := [a | some a in rendered; a.type == "replicate"]
	blocks := [a | some a in rendered; a.type == "block"]
	surviving := [r | some r in replicates; not _blocked(r, blocks)]
	blocks_in_force := _blocks_in_force(blocks, replicates, surviving)
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
