"""The judges: execution, static design (built-in and VLM) and interactive, plus the rewards built on them.

One implementation serves three uses: the ``judge`` stage (``aesdata/stages/judge.py``), the selection
signals it writes, and the GRPO-AR / WebGen-R1 rewards (``reward.py``). ``runner.Judges`` runs them all.
"""
