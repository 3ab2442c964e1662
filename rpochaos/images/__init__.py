"""Container images for the docker backend: which ones a run uses, and local equivalents.

Which image (``resolve_images``), for PostgreSQL (or Kafka, or MariaDB) and for Toxiproxy
each:

1. the name given (scenario, CLI or pytest option), else $RPOCHAOS_PG_IMAGE /
   $RPOCHAOS_KAFKA_IMAGE / $RPOCHAOS_MARIADB_IMAGE / $RPOCHAOS_TOXIPROXY_IMAGE, else the
   official image: ``postgres:15``, ``apache/kafka:3.9.2``, ``mariadb:10.11`` and
   ``ghcr.io/shopify/toxiproxy:2.12.0``;
2. that image when the engine has it; else a pull of it when a registry answers;
3. else, for the official defaults only, the local equivalent (``rpochaos/postgres:15``,
   ``rpochaos/kafka:3.9.2``, ``rpochaos/mariadb:10.11``, ``rpochaos/toxiproxy:2.12.0``),
   built once when missing. An image named explicitly that is neither present nor pullable
   is an error (MissingDependency) that says how to fix it: an explicit choice is never
   silently replaced. Naming a local image (``rpochaos/...``) explicitly builds it when missing.

The local equivalents (``build_images``; also ``python -m rpochaos.images build`` and
``scripts/docker-setup.sh``), for machines where no container registry answers:

- ``rpochaos/debian:bookworm``: ``debootstrap --variant=minbase bookworm`` from the Debian
  mirror apt uses on this machine ($RPOCHAOS_DEBIAN_MIRROR overrides), imported with
  ``docker import``;
- ``rpochaos/postgres:15``: FROM that base, Debian's postgresql-15, libfaketime, faketime
  and procps; like the official image, the binaries are on PATH, the ``postgres`` user
  exists, STOPSIGNAL is SIGINT;
- ``rpochaos/kafka:3.9.2``: FROM that base, Debian's openjdk-17-jre-headless and the broker
  jars of the cache (``rpochaos.kafka.jars``, fetched from Maven Central) in
  ``/opt/kafka/libs``, with the user ``appuser``: the layout of the official
  ``apache/kafka`` image that rpochaos relies on (``java`` on PATH, ``/opt/kafka/libs``,
  ``appuser``), nothing else;
- ``rpochaos/mariadb:10.11``: FROM that base, Debian's mariadb-server, mariadb-client and
  procps (bookworm's MariaDB is 10.11, as the official default): ``mariadbd``,
  ``mariadb-install-db`` and ``mariadb`` on PATH and the ``mysql`` user, as in the official
  image; no server or data directory of the package's own;
- ``rpochaos/patroni:4.1.5`` (docker runs of ``topology.manager: patroni``; no official
  equivalent; $RPOCHAOS_PATRONI_IMAGE overrides, ``resolve_patroni_image``): FROM
  ``rpochaos/postgres:15``, Debian's python3 and etcd-server, and Patroni in /opt/patroni
  installed with no index from wheels made on the host (``pip wheel`` with Debian's python3);
- ``rpochaos/toxiproxy:2.12.0``: FROM scratch with the static (CGO_ENABLED=0) server and CLI
  that ``go install github.com/Shopify/toxiproxy/v2/cmd/{server,cli}@v2.12.0`` builds, laid
  out as in the official image (``/toxiproxy``, ``/toxiproxy-cli``).

Each local image carries the label ``rpochaos.recipe``: a hash of its recipe. An image whose
recipe changed counts as missing and is rebuilt. Builds take a file lock, so parallel test
workers build once.

Nothing here depends on an image's entrypoint: the backend names the program to run.

The package's modules: ``names`` (image names, ``Images``), ``mirror`` (the Debian mirror),
``recipes`` (Dockerfiles and recipe hashes), ``base`` (the debootstrap base), ``build`` (the
per-image builds, ``ensure_local``, ``build_images``), ``leftovers`` (cleanup after a failed
build), ``resolve`` (``resolve_images``, ``status``, ``doctor``), ``cli`` (``python -m
rpochaos.images``). Their public names are importable from ``rpochaos.images``.
"""

from rpochaos.images.build import Step, _docker_build, build_images, ensure_local, is_static
from rpochaos.images.cli import main
from rpochaos.images.mirror import debian_mirror, debian_sources
from rpochaos.images.names import (
    BASE_IMAGE,
    BUILD_COMMAND,
    DEFAULT_KAFKA_IMAGE,
    DEFAULT_MARIADB_IMAGE,
    DEFAULT_MIRROR,
    DEFAULT_PG_IMAGE,
    DEFAULT_TOXIPROXY_IMAGE,
    IMAGE_LABEL,
    KAFKA_IMAGE_ENV,
    KAFKA_LIBS_IN_IMAGE,
    LOCAL_EQUIVALENT,
    LOCAL_KAFKA_IMAGE,
    LOCAL_MARIADB_IMAGE,
    LOCAL_PATRONI_IMAGE,
    LOCAL_PG_IMAGE,
    LOCAL_TOXIPROXY_IMAGE,
    MARIADB_IMAGE_ENV,
    MIRROR_ENV,
    PATRONI_IMAGE_ENV,
    PG_IMAGE_ENV,
    RECIPE_LABEL,
    SUITE,
    TOXIPROXY_IMAGE_ENV,
    TOXIPROXY_MODULE,
    TOXIPROXY_TAG,
    Images,
    Log,
)
from rpochaos.images.recipes import (
    KAFKA_DOCKERFILE,
    PATRONI_DOCKERFILE,
    PG_DOCKERFILE,
    TOXIPROXY_DOCKERFILE,
    _labels,
)
from rpochaos.images.resolve import doctor, resolve_images, resolve_patroni_image, status

__all__ = [
    "BASE_IMAGE",
    "BUILD_COMMAND",
    "DEFAULT_KAFKA_IMAGE",
    "DEFAULT_MARIADB_IMAGE",
    "DEFAULT_MIRROR",
    "DEFAULT_PG_IMAGE",
    "DEFAULT_TOXIPROXY_IMAGE",
    "IMAGE_LABEL",
    "KAFKA_DOCKERFILE",
    "KAFKA_IMAGE_ENV",
    "KAFKA_LIBS_IN_IMAGE",
    "LOCAL_EQUIVALENT",
    "LOCAL_KAFKA_IMAGE",
    "LOCAL_MARIADB_IMAGE",
    "LOCAL_PATRONI_IMAGE",
    "LOCAL_PG_IMAGE",
    "LOCAL_TOXIPROXY_IMAGE",
    "MARIADB_IMAGE_ENV",
    "MIRROR_ENV",
    "PATRONI_DOCKERFILE",
    "PATRONI_IMAGE_ENV",
    "PG_DOCKERFILE",
    "PG_IMAGE_ENV",
    "RECIPE_LABEL",
    "SUITE",
    "TOXIPROXY_DOCKERFILE",
    "TOXIPROXY_IMAGE_ENV",
    "TOXIPROXY_MODULE",
    "TOXIPROXY_TAG",
    "Images",
    "Log",
    "Step",
    "_docker_build",
    "_labels",
    "build_images",
    "debian_mirror",
    "debian_sources",
    "doctor",
    "ensure_local",
    "is_static",
    "main",
    "resolve_images",
    "resolve_patroni_image",
    "status",
]
