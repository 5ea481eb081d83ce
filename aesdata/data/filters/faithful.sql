-- Faithful renders only: every script, stylesheet and font the page asked for was answered with the
-- exact version it names (remote photos may be neutral placeholders); see render_assets for each file.
render_fidelity = 'faithful'
