"""Pure, I/O-free Nomad logic shared by the sync and the async hook.

Request builders (:mod:`.requests`), the log frame decoder (:mod:`.logs`), dispatch input rules
(:mod:`.dispatch_input`), state constants, outcome rules and the async job follower.
"""
