"""The bank's outboxes: what must leave the bank (webhooks to merchants, pushes to phones), and the workers
that send it. Rows are written in the transaction of the decision that causes them, then claimed under a
lease (leases.py) and sent off the request path, exactly once whatever number of processes run the workers.
"""
