"""Local mode: the whole rollout loop on one machine, no cluster (`modelrollout demo`).

A driver like `handlers`, beside it: it runs the same engine (`rollout`), decisions
(`analysis`) and routing-table builder (`routing`) as the operator, but talks to a gateway and
a trainer started as subprocesses, over HTTP and files, never by importing them.
"""
