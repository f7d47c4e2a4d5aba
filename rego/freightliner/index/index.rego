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
#   exact repository, registry, tag, label and annotation values, under a
#   prefix, suffix or substring of its repository or tag (of the lengths the
#   index holds), under a repository/tag prefix combined with one of its
#   label values, those filed under `always`, and the guarded ones
#   (always-evaluated policies of shape "all") whose guard - their first
#   check, one leaf over the image's facts - holds (`guarded`; the guards
#   in `guarded_above`, `guarded_below` and `guarded_absent` are tested
#   inline, without a call). The index is read from
#   data, not passed as an argument: regorus copies large arguments on every
#   call. Written as one union of comprehensions, with no intermediate list
#   of probes: this runs once per decision. Tables are read with object.get
#   and a path (a reference with variable keys, _index.prefix[field][p],
#   costs regorus several times more).
candidates(image, facts) := ((((((((((({id |
	some field in _index.exact_fields
	some id in object.get(_index, ["exact", field, image[field]], [])
} | {id |
	some key, value in image.labels
	some id in object.get(_index, ["exact", "label", key, value], [])
}) | {id |
	some key, value in image.annotations
	some id in object.get(_index, ["exact", "annotation", key, value], [])
}) | {id |
	some field, lengths in _index.prefix_lengths
	some p in prefixes(image[field], lengths)
	some id in object.get(_index, ["prefix", field, p], [])
}) | {id |
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
	# the same, for first checks tested inline: a number above the argument,
	some g in _index.guarded_above
	s := object.get(facts, g.subject, null)
	is_number(s)
	s > g.arg
}) | {g.id |
	# a number below it,
	some g in _index.guarded_below
	s := object.get(facts, g.subject, null)
	is_number(s)
	s < g.arg
}) | {g.id |
	# an absent label, annotation or age
	some g in _index.guarded_absent
	object.get(facts, g.subject, null) == null
})
