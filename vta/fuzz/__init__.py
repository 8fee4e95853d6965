"""Differential fuzzing of the backends (`vta fuzz`, docs/fuzzing.md): a seeded generator of
random valid programs for any config (`generator`), a check that a program means the same on
every backend (`races`), invalid programs with their documented verdicts (`invalid`), running
and comparing them on backends (`compare`), shrinking a divergence (`shrink`) and campaigns of
batches, locally or on a Dask cluster (`campaign`)."""
