"""Names of the images, of their environment variables and labels, and ``Images``: the
images one docker run uses. Official images and their local equivalents are described in the
package docstring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rpochaos import deps
from rpochaos.kafka.jars import KAFKA_VERSION
from rpochaos.patroni.deps import PATRONI_VERSION

Log = Callable[[str], None]

PG_IMAGE_ENV = "RPOCHAOS_PG_IMAGE"
KAFKA_IMAGE_ENV = "RPOCHAOS_KAFKA_IMAGE"
TOXIPROXY_IMAGE_ENV = "RPOCHAOS_TOXIPROXY_IMAGE"
MARIADB_IMAGE_ENV = "RPOCHAOS_MARIADB_IMAGE"
PATRONI_IMAGE_ENV = "RPOCHAOS_PATRONI_IMAGE"
MIRROR_ENV = "RPOCHAOS_DEBIAN_MIRROR"

DEFAULT_PG_IMAGE = "postgres:15"
DEFAULT_TOXIPROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.12.0"
BASE_IMAGE = "rpochaos/debian:bookworm"
LOCAL_PG_IMAGE = "rpochaos/postgres:15"
LOCAL_TOXIPROXY_IMAGE = "rpochaos/toxiproxy:2.12.0"
DEFAULT_KAFKA_IMAGE = f"apache/kafka:{KAFKA_VERSION}"
LOCAL_KAFKA_IMAGE = f"rpochaos/kafka:{KAFKA_VERSION}"
#: PostgreSQL 15, Patroni (pinned, from a wheelhouse made on the host) and etcd-server; no
#: official equivalent, so there is nothing to pull
LOCAL_PATRONI_IMAGE = f"rpochaos/patroni:{PATRONI_VERSION}"
#: where the Kafka jars are in the official image and in ours
KAFKA_LIBS_IN_IMAGE = "/opt/kafka/libs"
DEFAULT_MARIADB_IMAGE = "mariadb:10.11"
#: Debian bookworm's mariadb-server is 10.11, as the official default
LOCAL_MARIADB_IMAGE = "rpochaos/mariadb:10.11"
#: official image -> the local equivalent used when it cannot be had
LOCAL_EQUIVALENT = {
    DEFAULT_PG_IMAGE: LOCAL_PG_IMAGE,
    DEFAULT_KAFKA_IMAGE: LOCAL_KAFKA_IMAGE,
    DEFAULT_TOXIPROXY_IMAGE: LOCAL_TOXIPROXY_IMAGE,
    DEFAULT_MARIADB_IMAGE: LOCAL_MARIADB_IMAGE,
}
BUILD_COMMAND = "rpochaos images build   (or: scripts/docker-setup.sh)"
RECIPE_LABEL = "rpochaos.recipe"
#: carried by every local image (and so by every container made from one)
IMAGE_LABEL = "rpochaos.image"

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2"
TOXIPROXY_TAG = deps.TOXIPROXY_VERSION  # "v2.12.0"


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class Images:
    """The images one docker run uses."""

    postgres: str
    toxiproxy: str
    kafka: str = ""  # only runs of a Kafka scenario need it
    mariadb: str = ""  # only runs of a MariaDB scenario need it
