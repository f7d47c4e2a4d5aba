"""Build time: YAML policies and legacy replication rules to OPA bundles."""

#: the one version of the project: pyproject.toml reads it ([tool.hatch.version]),
#: `--version` and `freightliner_build_info{version}` print it
__version__ = "0.1.0"
