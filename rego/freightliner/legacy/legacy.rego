# METADATA
# title: Legacy Freightliner semantics
# description: |
#   Per-image behaviour of the legacy Go code that the policy language has no
#   construct for, used by policies converted with freightliner-migrate
#   (docs/migration.md): the sync semver_constraint dialect (Masterminds/semver
#   v3 as pkg/sync/semver.go calls it) and GetDestinationRepository's capture
#   substitution (pkg/replication/rules.go). Numbers are kept as decimal
#   strings so that both engines compare 64-bit values exactly.
package freightliner.legacy

_loose := `^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$`

_uint64_max := "18446744073709551615"

# A decimal digit string as ParseUint(s, 10, 64) reads it, normalised (no
# leading zeros); undefined when above 2^64-1.
_uint(d) := n if {
	t := trim_left(d, "0")
	n := _nonempty(t)
	_fits(n)
}

_nonempty("") := "0"

_nonempty(t) := t if t != ""

_fits(n) if count(n) < 20

_fits(n) if {
	count(n) == 20
	n <= _uint64_max
}

_segment("") := "0"

_segment(s) := _uint(trim_prefix(s, ".")) if s != ""

_leading_zero(pre) if {
	some part in split(pre, ".")
	regex.match(`^0[0-9]+$`, part)
}

# METADATA
# title: new_version
# description: |
#   semver.NewVersion (loose): an optional "v", missing minor/patch are 0,
#   prerelease numeric identifiers without leading zeros. Undefined when the
#   string is not a version.
new_version(s) := {"major": major, "minor": minor, "patch": patch, "pre": m[5]} if {
	is_string(s)
	ms := regex.find_all_string_submatch_n(_loose, s, 1)
	count(ms) == 1
	m := ms[0]
	major := _uint(m[1])
	minor := _segment(m[2])
	patch := _segment(m[3])
	not _leading_zero(m[5])
}

# METADATA
# title: parse_tag
# description: |
#   SemverFilter.parseVersion: the tag itself, else the tag without its first
#   character when it starts with v/V, else without "release-" (any case).
#   ("version-" and "ver-" are listed after "v" in the Go loop, so they never apply.)
parse_tag(tag) := v if {
	v := new_version(tag)
} else := v if {
	startswith(lower(tag), "v")
	v := new_version(substring(tag, 1, count(tag) - 1))
} else := v if {
	not startswith(lower(tag), "v")
	startswith(lower(tag), "release-")
	v := new_version(substring(tag, 8, count(tag) - 8))
}

_num_cmp(a, b) := -1 if {
	count(a) < count(b)
} else := 1 if {
	count(a) > count(b)
} else := -1 if {
	a < b
} else := 1 if {
	a > b
} else := 0

_numeric(p) := n if {
	regex.match(`^[0-9]+$`, p)
	n := _uint(p)
}

_part_cmp(s, o) := 0 if {
	s == o
} else := -1 if {
	s == ""
} else := 1 if {
	o == ""
} else := d if {
	not _numeric(s)
	not _numeric(o)
	d := _bool_cmp(s > o)
} else := -1 if {
	not _numeric(o)
} else := 1 if {
	not _numeric(s)
} else := _bool_cmp(_num_cmp(_numeric(s), _numeric(o)) > 0)

_bool_cmp(true) := 1

_bool_cmp(false) := -1

_at(parts, i) := parts[i] if i < count(parts) else := ""

_pre_cmp(a, b) := d if {
	pa := split(a, ".")
	pb := split(b, ".")
	n := max([count(pa), count(pb)])
	ds := [x | some i in numbers.range(0, n - 1); x := _part_cmp(_at(pa, i), _at(pb, i)); x != 0]
	d := _first_or_zero(ds)
}

_first_or_zero(ds) := ds[0] if count(ds) > 0 else := 0

# METADATA
# title: compare
# description: Version.Compare (-1, 0, 1); build metadata is not part of a version here.
compare(v, o) := d if {
	d := _num_cmp(v.major, o.major)
	d != 0
} else := d if {
	d := _num_cmp(v.minor, o.minor)
	d != 0
} else := d if {
	d := _num_cmp(v.patch, o.patch)
	d != 0
} else := 0 if {
	v.pre == ""
	o.pre == ""
} else := 1 if {
	v.pre == ""
} else := -1 if {
	o.pre == ""
} else := _pre_cmp(v.pre, o.pre)

# Every constraint function refuses a prerelease when the constraint has none.
_check(v, c) if {
	not _refused_prerelease(v, c)
	_op(c.op, v, c)
}

_refused_prerelease(v, c) if {
	v.pre != ""
	c.pre == ""
}

_op("lt", v, c) if compare(v, c) < 0

_op("ge", v, c) if compare(v, c) >= 0

_op("eq", v, c) if {
	not c.dirty
	compare(v, c) == 0
}

_op("eq", v, c) if {
	c.dirty
	_tilde(v, c)
}

_op("tilde", v, c) if _tilde(v, c)

_op("ne", v, c) if _ne(v, c) == true

_op("gt", v, c) if _gt(v, c) == true

_op("le", v, c) if _le(v, c) == true

_op("caret", v, c) if _caret(v, c) == true

_tilde(v, c) if {
	compare(v, c) >= 0
	c.major == "0"
	c.minor == "0"
	c.patch == "0"
	not c.minor_dirty
	not c.patch_dirty
}

_tilde(v, c) if {
	compare(v, c) >= 0
	not _tilde_any(c)
	v.major == c.major
	_tilde_minor(v, c)
}

_tilde_any(c) if {
	c.major == "0"
	c.minor == "0"
	c.patch == "0"
	not c.minor_dirty
	not c.patch_dirty
}

_tilde_minor(v, c) if c.minor_dirty

_tilde_minor(v, c) if v.minor == c.minor

_ne(v, c) := true if {
	c.dirty
	v.major != c.major
} else := true if {
	c.dirty
	v.minor != c.minor
	not c.minor_dirty
} else := false if {
	c.dirty
	c.minor_dirty
} else := true if {
	c.dirty
	v.patch != c.patch
	not c.patch_dirty
} else := d if {
	c.dirty
	c.patch_dirty
	d := _pre_differs(v, c)
} else := compare(v, c) != 0

_pre_differs(v, c) := _pre_cmp(v.pre, c.pre) != 0 if {
	concat("", [v.pre, c.pre]) != ""
} else := false

_gt(v, c) := compare(v, c) == 1 if {
	not c.dirty
} else := true if {
	_num_cmp(v.major, c.major) > 0
} else := false if {
	_num_cmp(v.major, c.major) < 0
} else := false if {
	c.minor_dirty
} else := _num_cmp(v.minor, c.minor) > 0 if {
	c.patch_dirty
} else := compare(v, c) == 1

_le(v, c) := compare(v, c) <= 0 if {
	not c.dirty
} else := false if {
	_num_cmp(v.major, c.major) > 0
} else := false if {
	v.major == c.major
	_num_cmp(v.minor, c.minor) > 0
	not c.minor_dirty
} else := true

_caret(v, c) := false if {
	compare(v, c) < 0
} else := v.major == c.major if {
	c.major != "0"
} else := v.major == c.major if {
	c.minor_dirty
} else := false if {
	v.major != "0"
} else := v.minor == c.minor if {
	c.minor != "0"
} else := v.minor == c.minor if {
	c.patch_dirty
} else := false if {
	v.minor != "0"
} else := v.patch == c.patch

# METADATA
# title: semver_selects
# description: |
#   Whether the legacy sync's semver filter keeps a tag: it parses in the
#   legacy dialect (parse_tag) and satisfies one OR group of the compiled
#   constraint (every constraint of the group). True or false, never undefined
#   (false for a non-string).
semver_selects(tag, groups) := true if {
	is_string(tag)
	v := parse_tag(tag)
	some group in groups
	every c in group {
		_check(v, c)
	}
} else := false

# METADATA
# title: target
# description: |
#   The legacy destination repository of a replicate action that carries a
#   compiled legacy_destination (see destination), else "" (no legacy spec).
target(null, _) := ""

target(spec, repository) := destination(spec, repository) if spec != null

# METADATA
# title: destination
# description: |
#   GetDestinationRepository's substitution case (source has "*", destination
#   has "*" or $N): the capture substitution when it gives a non-empty
#   string, else the destination as written.
destination(spec, repository) := r if {
	r := _substitute(spec, repository)
	r != ""
} else := spec.destination

# substituteWildcard: the regex's groups when it matches, else the one-"*"
# prefix/suffix fallback, else "".
_substitute(spec, repository) := _fill(spec, ms[0]) if {
	spec.regex != ""
	ms := regex.find_all_string_submatch_n(spec.regex, repository, 1)
	count(ms) == 1
} else := concat("", [spec.before, middle, spec.after]) if {
	spec.fallback
	spec.star
	startswith(repository, spec.prefix)
	endswith(repository, spec.suffix)
	n := (count(repository) - count(spec.prefix)) - count(spec.suffix)
	n >= 0
	middle := substring(repository, count(spec.prefix), n)
} else := ""

# Each group i replaces its placeholder in turn (text inserted by an earlier
# group is subject to later replacements), then every "*" left becomes the
# first group. The translator refuses sources with more than 16 groups.
_fill(spec, g) := replace(r16, "*", g[1]) if {
	p := spec.placeholders
	r1 := _step(spec.destination, p, g, 0)
	r2 := _step(r1, p, g, 1)
	r3 := _step(r2, p, g, 2)
	r4 := _step(r3, p, g, 3)
	r5 := _step(r4, p, g, 4)
	r6 := _step(r5, p, g, 5)
	r7 := _step(r6, p, g, 6)
	r8 := _step(r7, p, g, 7)
	r9 := _step(r8, p, g, 8)
	r10 := _step(r9, p, g, 9)
	r11 := _step(r10, p, g, 10)
	r12 := _step(r11, p, g, 11)
	r13 := _step(r12, p, g, 12)
	r14 := _step(r13, p, g, 13)
	r15 := _step(r14, p, g, 14)
	r16 := _step(r15, p, g, 15)
}

_step(r, p, g, i) := replace(r, p[i], g[i + 1]) if i < count(p) else := r
