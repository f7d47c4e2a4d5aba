package freightliner.legacy_test

import data.freightliner.legacy

# Constraints as the translator compiles them (migrate/legacy/gosemver.py).
_caret_1_2_0 := [[{"op": "caret", "major": "1", "minor": "2", "patch": "0", "pre": "", "dirty": false, "minor_dirty": false, "patch_dirty": false}]]

_range_and := [[
	{"op": "ge", "major": "1", "minor": "0", "patch": "0", "pre": "", "dirty": false, "minor_dirty": false, "patch_dirty": false},
	{"op": "lt", "major": "1", "minor": "3", "patch": "0", "pre": "", "dirty": false, "minor_dirty": false, "patch_dirty": false},
]]

_one_x := [[{"op": "eq", "major": "1", "minor": "0", "patch": "0", "pre": "", "dirty": true, "minor_dirty": true, "patch_dirty": false}]]

_ge_rc := [[{"op": "ge", "major": "1", "minor": "2", "patch": "3", "pre": "rc.1", "dirty": false, "minor_dirty": false, "patch_dirty": false}]]

# SemverFilter.parseVersion: "v"/"V" and "release-" are stripped; "version-" never is
# (the Go loop tests "v" first); tags that are not versions are not selected.
test_semver_dialect if {
	legacy.semver_selects("v1.5.0", _caret_1_2_0)
	legacy.semver_selects("V1.9", _caret_1_2_0)
	legacy.semver_selects("release-1.3.0", _caret_1_2_0)
	legacy.semver_selects("1.2", _caret_1_2_0)
	not legacy.semver_selects("version-1.4.0", _caret_1_2_0)
	not legacy.semver_selects("latest", _caret_1_2_0)
	not legacy.semver_selects("2.0.0", _caret_1_2_0)
	not legacy.semver_selects("1.3.0-rc1", _caret_1_2_0)
	not legacy.semver_selects(7, _caret_1_2_0) == true
}

test_semver_and_x_range_and_prerelease if {
	legacy.semver_selects("1.2.9", _range_and)
	not legacy.semver_selects("1.3.0", _range_and)
	legacy.semver_selects("1.9.9", _one_x)
	not legacy.semver_selects("2.0", _one_x)
	legacy.semver_selects("1.2.3-rc.2", _ge_rc)
	legacy.semver_selects("1.2.3-rc.10", _ge_rc)
	not legacy.semver_selects("1.2.3-rc.0", _ge_rc)
}

# ParseUint(…, 10, 64): a segment above 2^64-1 is no version; leading zeros are fine.
test_new_version_limits if {
	legacy.new_version("18446744073709551615.0.0").major == "18446744073709551615"
	not legacy.new_version("18446744073709551616.0.0")
	legacy.new_version("01.2").major == "1"
	not legacy.new_version("1.2.3-01")
	not legacy.new_version("1.2.3.4")
}

_project := {"regex": "^project/([^/]+)/([^/]+)$", "placeholders": ["$1", "$2"], "destination": "dest/$2/$1", "fallback": false, "prefix": "", "suffix": "", "before": "dest/$2/$1", "after": "", "star": false}

_team := {"regex": "^([^/]+)([^/]+)team/x$", "placeholders": ["$1", "$2"], "destination": "mirror/*", "fallback": false, "prefix": "", "suffix": "", "before": "mirror/", "after": "", "star": true}

_group := {"regex": "^(team|grp)/([^/]+)$", "placeholders": ["$1", "$2"], "destination": "d/*", "fallback": true, "prefix": "(team|grp)/", "suffix": "", "before": "d/", "after": "", "star": true}

# GetDestinationRepository / substituteWildcard (pkg/replication/rules.go).
test_destination_captures if {
	legacy.destination(_project, "project/a/b") == "dest/b/a"
	legacy.destination(_team, "teamteamteam/x") == "mirror/teamtea"
	legacy.destination(_group, "team/x") == "d/team"
	legacy.destination(_group, "(team|grp)/x") == "d/x"
	legacy.destination(_group, "other") == "d/*"
	legacy.target(null, "x") == ""
	legacy.target(_project, "project/a/b") == "dest/b/a"
}

_two := {"regex": "^([^/]+)/([^/]+)$", "placeholders": ["$1", "$2"], "destination": "$1", "fallback": false, "prefix": "", "suffix": "", "before": "$1", "after": "", "star": false}

# Placeholders are replaced in turn: text inserted by $1 is subject to $2.
test_destination_in_turn if {
	legacy.destination(_two, "a$2/b") == "ab"
}
