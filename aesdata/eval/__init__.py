"""``aesdata eval``: score a model on the benchmarks the source papers report, and compare two runs.

Modules: ``benchmarks`` (task loaders and prompts), ``metrics`` (each benchmark's own formulas),
``stages`` (the eval pipeline's stages), ``run`` (the pipeline and the run), ``summary`` (``eval.json``),
``compare`` (two runs side by side), ``cli`` (the Typer sub-app).
"""
