"""The names of the role scores (harness.scoring.roles), importable without torch (the thresholds
loader validates the role signature against them)."""

REPEAT_COLUMNS = ("prev_token", "duplicate_token", "induction")
IOI_ATTENTION_COLUMNS = ("attn_io", "attn_s1", "attn_s2")
COPY_COLUMNS = ("copy", "neg_copy")
DLA_COLUMN = "dla_io_s"  # close to the outcome: never part of a signature
ROLE_COLUMNS: tuple[str, ...] = (*REPEAT_COLUMNS, *IOI_ATTENTION_COLUMNS, *COPY_COLUMNS, DLA_COLUMN)
SIGNATURE_CANDIDATES: tuple[str, ...] = tuple(c for c in ROLE_COLUMNS if c != DLA_COLUMN)
