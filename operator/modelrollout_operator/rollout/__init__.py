"""The rollout engine: pure functions over plain data (no kopf, no HTTP, no clock reads).

One pass for one Experiment, run by the operator (kopf timer), the local demo driver and
the tests alike:

    plan = plan_observation(spec, status, world, now)    # what to measure, or None
    observations = provider.observe(plan)                 # I/O, elsewhere
    decision = reconcile(spec, status, world, observations, intent, now)
    for action in decision.actions: ...                   # I/O, elsewhere
    write decision.status

See `model.py` for the data that crosses the boundary.
"""
