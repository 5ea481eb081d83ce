-- Minimum design quality: static aesthetics score of 50 or more ("average" or better on OpenDesign's
-- 0..100 anchors: 90+ outstanding, 70-89 good, 50-69 average, 30-49 below average, under 30 poor).
-- Calibrated for design@4: on the demo corpus it drops the badly damaged renders (an empty chart, empty
-- axes, faded ghost text: 4 of the 28 scored mediocre or defective rows) and no polished row; under
-- design@3 nothing scored below 77, so this filter dropped nothing.
static_score >= 50
