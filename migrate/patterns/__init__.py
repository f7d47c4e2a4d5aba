"""Pattern semantics shared by the translator: Go filepath.Match globs and their RE2 form."""
