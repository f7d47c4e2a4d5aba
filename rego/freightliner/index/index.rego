# METADATA
# title: Candidate index
# description: |
#   Narrows the policies to evaluate for an image, so that cost does not grow
#   with the number of policies when conditions allow indexing. The translator
#   files each policy under one sound key (a condition every match must
#   satisfy): exact values of repository, registry, tag, labels and
#   annotations, or literal prefixes or suffixes of repository and tag. Policies with no
#   indexable condition are filed under `always`.
package freightliner.index

_exact_fields := ["repository", "registry", "tag"]

_prefix_fields := ["repository", "tag"]

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
# title: probes
# description: |
#   The index paths an image can be filed under: its exact field, label and
#   annotation values, and the prefixes and suffixes of repository and tag
#   with the lengths the index holds.
probes(image) := array.concat(
	array.concat(
		[["exact", field, image[field]] | some field in _exact_fields],
		array.concat(
			[["exact", "label", key, value] | some key, value in image.labels],
			[["exact", "annotation", key, value] | some key, value in image.annotations],
		),
	),
	array.concat(
		[["prefix", field, p] |
			some field in _prefix_fields
			some p in prefixes(image[field], object.get(_index, ["prefix_lengths", field], []))
		],
		[["suffix", field, p] |
			some field in _prefix_fields
			some p in suffixes(image[field], object.get(_index, ["suffix_lengths", field], []))
		],
	),
)

# METADATA
# title: candidates
# description: |
#   The ids of the policies that may match the image under the bundle's
#   index (data.freightliner.policy_set.index). The index is read from data,
#   not passed as an argument: regorus copies large arguments on every call.
candidates(image) := {id |
	some probe in probes(image)
	some id in object.get(_index, probe, [])
} | {id | some id in _index.always}
