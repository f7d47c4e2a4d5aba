# METADATA
# title: Candidate index
# description: |
#   Narrows the policies to evaluate for an image, so that cost does not grow
#   with the number of policies when conditions allow indexing. The translator
#   files each policy under one sound key (a condition every match must
#   satisfy): exact values of repository, registry, tag, labels and
#   annotations, literal prefixes, suffixes or required substrings of
#   repository and tag, or a repository/tag prefix combined with a label
#   value. Policies with no indexable condition are filed under `always`.
package freightliner.index

import data.freightliner.conditions

# METADATA
# title: prefixes
# description: |
#   The prefixes of a string with the given lengths (those not longer than
#   it). The index lists the distinct prefix lengths it holds, so the cost is
#   that count times the string length, whatever the string.
prefixes(s, lengths) := {substring(s, 0, n) | some n in lengths; n <= count(s)}

# METADATA
# title: suffixes
# description: The suffixes of a string with the given lengths (those not longer than it).
suffixes(s, lengths) := {substring(s, count(s) - n, n) | some n in lengths; n <= count(s)}

_index := data.freightliner.policy_set.index

# METADATA
# title: substrings
# description: |
#   The substrings of a string with the given lengths (at every position).
#   The index lists the distinct lengths of its required literals, so the
#   cost is about that count times the string length.
substrings(s, lengths) := {substring(s, i, n) |
	some n in lengths
	n <= count(s)
	some i in numbers.range(0, count(s) - n)
}

# METADATA
# title: candidates
# description: |
#   The ids of the policies that may match the image under the bundle's
#   index (data.freightliner.policy_set.index): those filed under the image's
#   exact repository, registry, tag and label values, under a prefix of its
#   repository or tag (of the lengths the index holds), and the guarded ones
#   (always-evaluated policies of shape "all") whose guard - their first
#   check, one leaf over the image's facts - holds; with the index's
#   `extended` tables (see extended) also those filed under annotation
#   values, suffixes or substrings, repository/tag prefixes combined with a
#   label value, under `always`, and the other guards. The index is read
#   from data, not passed as an argument: regorus copies large arguments on
#   every call. Written as unions of comprehensions, with no intermediate
#   list of probes: this runs once per decision. Tables are read with
#   object.get and a path (a reference with variable keys,
#   _index.prefix[field][p], costs regorus several times more). An index
#   that does not say `"extended": false` (older bundles, a build without
#   the index) is read whole.
candidates(image, facts) := core(image, facts) if {
	_index.extended == false
} else := core(image, facts) | extended(image, facts)

# METADATA
# title: core
# description: |
#   The candidates from the index's common tables: exact repository,
#   registry, tag and label values, repository and tag prefixes, and the
#   guards tested inline (a number above the argument; an absent label,
#   annotation or age).
core(image, facts) := (((({id |
	some field in _index.exact_fields
	some id in object.get(_index, ["exact", field, image[field]], [])
} | {id |
	some key, value in image.labels
	some id in object.get(_index, ["exact", "label", key, value], [])
}) | {id |
	some field, lengths in _index.prefix_lengths
	some p in prefixes(image[field], lengths)
	some id in object.get(_index, ["prefix", field, p], [])
}) | {g.id |
	# always-evaluated policies whose first check (one leaf) is tested
	# inline: a number above the argument,
	some g in _index.guarded_above
	s := object.get(facts, g.subject, null)
	is_number(s)
	s > g.arg
}) | {g.id |
	# an absent label, annotation or age
	some g in _index.guarded_absent
	object.get(facts, g.subject, null) == null
})

# METADATA
# title: extended
# description: |
#   The candidates from the index's less common tables (those a bundle's
#   index.extended says it uses): exact annotation values, suffixes and
#   substrings, repository/tag prefixes combined with a label value,
#   `always`, and the guards tested through holds (`guarded`) or as a number
#   below the argument (`guarded_below`). Kept apart so that a decision under
#   an index without them does not pay for their (empty) comprehensions.
extended(image, facts) := ((((({id |
	some key, value in image.annotations
	some id in object.get(_index, ["exact", "annotation", key, value], [])
} | {id |
	some field, lengths in _index.suffix_lengths
	some p in suffixes(image[field], lengths)
	some id in object.get(_index, ["suffix", field, p], [])
}) | {id |
	some field, lengths in _index.contains_lengths
	some p in substrings(image[field], lengths)
	some id in object.get(_index, ["contains", field, p], [])
}) | {id |
	some field, lengths in _index.composite_lengths
	some p in prefixes(image[field], lengths)
	by_label := object.get(_index, ["composite", field, p], null)
	by_label != null
	some key, value in image.labels
	some id in object.get(by_label, [key, value], [])
}) | {id | some id in _index.always}) | {g.id |
	# always-evaluated policies whose first check (one leaf) holds
	some g in _index.guarded
	conditions.holds(g.base, g.type, object.get(facts, g.subject, null), g.arg) != g.negate
}) | {g.id |
	# a number below the argument
	some g in _index.guarded_below
	s := object.get(facts, g.subject, null)
	is_number(s)
	s < g.arg
}
