"""Training recipes: SFT and GRPO-AR with TRL on aesdata exports (``aesdata train <recipe>``).

``recipe`` parses and validates a recipe file, ``data`` loads the training rows and fingerprints
them, ``sft`` and ``grpo`` build the TRL trainers, ``run`` runs a recipe and writes its provenance
(``aesdata_train.json``) next to the checkpoint.
"""
