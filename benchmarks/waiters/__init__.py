"""The waiters compared: the provider's two paths and two peers' polling loops.

Each waiter follows one already-dispatched batch to its end and returns; the harness times the
return and counts the requests sent meanwhile.
"""
