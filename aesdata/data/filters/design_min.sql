-- Minimum design quality: static aesthetics score of 50 or more (average or better on 0..100).
static_score >= 50
