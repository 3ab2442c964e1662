"""Patroni-managed PostgreSQL: the pieces a ``topology.manager: patroni`` is built from.

- ``deps``: where Patroni's own environment, etcd and etcdctl are, and how to install them;
- ``etcd``: the DCS, 1 or 3 etcd members on loopback;
- ``config``: the declared Patroni settings and each node's patroni.yml;
- ``rest``: a typed client for a node's REST API;
- ``cluster``: N Patroni nodes as local processes, replication through Toxiproxy.

See docs/patroni.md for what is measured and what is still to be wired into scenarios.
"""
