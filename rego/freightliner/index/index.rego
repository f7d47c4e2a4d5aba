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

# METADATA
# title: candidates
# description: The ids of the policies that may match the image.
candidates(index, image) := (((((exact | labelled) | annotated) | prefixed) | suffixed) | always) if {
	exact := {id |
		some field in _exact_fields
		some id in index.exact[field][image[field]]
	}
	labelled := {id |
		some key, value in image.labels
		some id in index.exact.label[key][value]
	}
	annotated := {id |
		some key, value in image.annotations
		some id in index.exact.annotation[key][value]
	}
	prefixed := {id |
		some field in _prefix_fields
		some p in prefixes(image[field], object.get(index, ["prefix_lengths", field], []))
		some id in index.prefix[field][p]
	}
	suffixed := {id |
		some field in _prefix_fields
		some p in suffixes(image[field], object.get(index, ["suffix_lengths", field], []))
		some id in index.suffix[field][p]
	}
	always := {id | some id in index.always}
}
