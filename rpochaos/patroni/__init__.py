"""Patroni-managed PostgreSQL: the pieces a ``topology.manager: patroni`` is built from.

- ``deps``: where Patroni's own environment, etcd and etcdctl are, and how to install them;
- ``etcd``: the DCS, 1 or 3 etcd members on loopback;
- ``config``: the declared Patroni settings and each node's patroni.yml;
- ``rest``: a typed client for a node's REST API;
- ``cluster``: N Patroni nodes as local processes, replication through Toxiproxy;
- ``topology``: the runner's ``Cluster`` of a Patroni scenario on the local backend;
- ``docker_topology``: the same on the docker backend (Patroni, PostgreSQL and etcd in
  containers of the ``rpochaos/patroni`` image);
- ``watch``: the leadership watcher.

See docs/patroni.md for what is measured and what is still to be wired into scenarios.
"""
