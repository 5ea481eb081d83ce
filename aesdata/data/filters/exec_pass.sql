-- Passed the execution judge (lint rules, page errors, blank check; for plots: ran and drew a figure).
exec_pass
