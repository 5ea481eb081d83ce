-- AesCode quality bar (AesCoder, arXiv 2510.23272): rendered, passed the execution judge, and scored
-- "good" on static aesthetics (total >= 75 on the 0..100 OpenDesign scale).
render_status = 'ok'
AND exec_pass
AND static_score >= 75
