-- AesCode quality bar (AesCoder, arXiv 2510.23272): rendered, passed the execution judge, and scored
-- "good" on static aesthetics (total >= 75 on the 0..100 OpenDesign scale).
-- Calibrated for design@4 (the built-in judge with the appeal model): on the demo corpus's 58 rows that
-- pass the execution judge, thresholds 50..95 were swept for polished vs mediocre/defective labels:
-- 70 keeps 34/34 polished and 7/24 others, 75 keeps 33/34 and 6/24 (balanced accuracy 0.86), 80 keeps
-- 32/34 and 3/24 (0.91). The paper's "good" bar, 75, is kept: on 58 rows the gain of 80 is 3 rows, and
-- on issue 16's 80 real pages design@4's median is 68. Under design@3 the bar kept nearly every render.
render_status = 'ok'
AND exec_pass
AND static_score >= 75
