"""MariaDB semi-synchronous replication as a system under test: a primary and N replicas as
local processes or docker containers, replication through Toxiproxy, failover done by
rpochaos itself.

``settings`` (the declared RPO settings), ``server`` (one local mariadbd, and the node
interface ``MariaDBNode``), ``docker_server`` (one mariadbd in a container), ``cluster`` (the
topology, promotion, crash), ``workload`` (the sequenced writer), ``observe`` (the semi-sync
status sampler), ``deps`` (finding the programs). See docs/mariadb.md.
"""
