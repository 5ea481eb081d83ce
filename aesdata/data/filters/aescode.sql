-- AesCode quality bar (AesCoder, arXiv 2510.23272): rendered, passed the execution judge, and scored
-- "good" on static aesthetics (total >= 75 on the 0..100 OpenDesign scale).
-- Calibrated for design@4 (the built-in judge with the appeal model): on the demo corpus's 58 rows that
-- pass the execution judge, thresholds 50..95 were swept for polished vs mediocre/defective labels;
-- 75 keeps 33/34 polished and 5/24 others (balanced accuracy 0.88; the best, 78, gives 0.89 on this small
-- set), so the paper's "good" bar is kept: under design@3 it kept nearly every row that rendered.
render_status = 'ok'
AND exec_pass
AND static_score >= 75
