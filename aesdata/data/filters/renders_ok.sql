-- Rendered cleanly: the renderer reported ok (not timeout, crash, js_error, blank, exec_error...).
render_status = 'ok'
