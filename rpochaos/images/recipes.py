"""Recipes of the local images (their Dockerfiles) and the hash each local image carries in
its ``rpochaos.recipe`` label: an image whose recipe changed counts as missing
(``_current``).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from rpochaos.images.mirror import debian_sources
from rpochaos.images.names import (
    BASE_IMAGE,
    KAFKA_LIBS_IN_IMAGE,
    LOCAL_KAFKA_IMAGE,
    LOCAL_MARIADB_IMAGE,
    LOCAL_PATRONI_IMAGE,
    LOCAL_PG_IMAGE,
    LOCAL_TOXIPROXY_IMAGE,
    RECIPE_LABEL,
    SUITE,
    TOXIPROXY_TAG,
)
from rpochaos.kafka.jars import KAFKA_VERSION
from rpochaos.patroni.deps import PATRONI_REQUIREMENT

if TYPE_CHECKING:
    import docker

PG_DOCKERFILE = f"""\
FROM {BASE_IMAGE}
RUN set -eux; \\
    mkdir -p /etc/postgresql-common; \\
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf; \\
    apt-get update; \\
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
        postgresql-15 libfaketime faketime procps; \\
    apt-get clean; rm -rf /var/lib/apt/lists/*; \\
    mkdir -p /var/lib/postgresql/data /var/run/postgresql; \\
    chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql; \\
    ln -s "$(dpkg -L libfaketime | grep '/libfaketime.so.1$' | head -1)" /usr/lib/libfaketime.so.1
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data LANG=C.UTF-8
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
"""

KAFKA_DOCKERFILE = f"""\
FROM {BASE_IMAGE}
RUN set -eux; \\
    apt-get update; \\
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
        openjdk-17-jre-headless procps; \\
    apt-get clean; rm -rf /var/lib/apt/lists/*; \\
    useradd --create-home --shell /bin/bash appuser
COPY libs {KAFKA_LIBS_IN_IMAGE}
ENV LANG=C.UTF-8
STOPSIGNAL SIGTERM
EXPOSE 9092
USER appuser
"""

#: Debian's MariaDB server and client; policy-rc.d keeps the package from starting a server
#: during the build; Debian's own /var/lib/mysql is emptied (nodes make their own data)
MARIADB_DOCKERFILE = f"""\
FROM {BASE_IMAGE}
RUN set -eux; \\
    printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; \\
    apt-get update; \\
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
        mariadb-server mariadb-client procps; \\
    apt-get clean; rm -rf /var/lib/apt/lists/* /var/lib/mysql/*; \\
    rm -f /usr/sbin/policy-rc.d
ENV LANG=C.UTF-8
STOPSIGNAL SIGTERM
EXPOSE 3306
"""

TOXIPROXY_DOCKERFILE = """\
FROM scratch
COPY toxiproxy /toxiproxy
COPY toxiproxy-cli /toxiproxy-cli
EXPOSE 8474
ENTRYPOINT ["/toxiproxy"]
CMD ["-host=0.0.0.0"]
"""

#: FROM the local PostgreSQL image: Debian's python3 and etcd-server, and Patroni in its own
#: environment installed with no index from the build context's ``wheels`` (made on the host
#: by ``pip wheel``: pip inside a docker build finds no index here). etcd runs in its own
#: container of this image.
PATRONI_DOCKERFILE = f"""\
FROM {LOCAL_PG_IMAGE}
COPY wheels /tmp/wheels
RUN set -eux; \\
    apt-get update; \\
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
        python3 python3-venv etcd-server; \\
    apt-get clean; rm -rf /var/lib/apt/lists/*; \\
    python3 -m venv /opt/patroni; \\
    /opt/patroni/bin/pip install --no-index --find-links /tmp/wheels \\
        --disable-pip-version-check -q '{PATRONI_REQUIREMENT}'; \\
    rm -rf /tmp/wheels; \\
    /opt/patroni/bin/patroni --version; etcd --version
ENV PATH=/opt/patroni/bin:$PATH
"""


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _base_recipe() -> str:
    return _digest("base", SUITE, "minbase", *(f"{u} {s}" for u, s in debian_sources()))


def _recipes() -> dict[str, str]:
    """Local image -> hash of its recipe (the base's recipe is part of the PostgreSQL one)."""
    return {
        BASE_IMAGE: _base_recipe(),
        LOCAL_PG_IMAGE: _digest("postgres", PG_DOCKERFILE),
        LOCAL_TOXIPROXY_IMAGE: _digest("toxiproxy", TOXIPROXY_DOCKERFILE, TOXIPROXY_TAG),
        LOCAL_KAFKA_IMAGE: _digest("kafka", KAFKA_DOCKERFILE, KAFKA_VERSION),
        LOCAL_MARIADB_IMAGE: _digest("mariadb", MARIADB_DOCKERFILE),
        LOCAL_PATRONI_IMAGE: _digest("patroni", PG_DOCKERFILE, PATRONI_DOCKERFILE),
    }


def _labels(c: docker.DockerClient, name: str) -> dict[str, str] | None:
    """The image's labels (possibly empty), or None when the engine does not have it."""
    import docker.errors

    try:
        img = c.images.get(name)
    except docker.errors.ImageNotFound:
        return None
    cfg = img.attrs.get("Config") or {}
    return dict(cfg.get("Labels") or {})


def _current(c: docker.DockerClient, name: str) -> bool:
    """True when the engine has ``name`` and, for a local image, built from today's recipe."""
    labels = _labels(c, name)
    if labels is None:
        return False
    recipe = _recipes().get(name)
    if recipe is None or name == BASE_IMAGE:  # 'docker import' cannot label; the tag is enough
        return True
    return labels.get(RECIPE_LABEL) == recipe
