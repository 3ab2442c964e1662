"""The options of each ``rpochaos`` command, one function per command.

Each adds its command's arguments to an ``argparse`` parser (``COMMANDS`` in ``rpochaos.cli``
names them); ``kube_env`` turns the kubernetes options into the environment the backend reads.
The subcommands that live in their own packages (``gameday``, ``heal``, ``search``) keep
their options there."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def kube_arguments(r: argparse.ArgumentParser) -> None:
    """--kubeconfig, --kube-context, --namespace: the kubernetes backend's cluster and namespace
    (they set $RPOCHAOS_KUBECONFIG, $RPOCHAOS_KUBE_CONTEXT, $RPOCHAOS_KUBE_NAMESPACE)."""
    r.add_argument("--kubeconfig", default=None, help="kubernetes: the kubeconfig file")
    r.add_argument("--kube-context", default=None, help="kubernetes: the kubeconfig context")
    r.add_argument(
        "--namespace",
        default=None,
        help="kubernetes: the namespace the run creates and deletes (default rpochaos-<run id>)",
    )


def kube_env(a: argparse.Namespace) -> None:
    for value, env in (
        (a.kubeconfig, "RPOCHAOS_KUBECONFIG"),
        (a.kube_context, "RPOCHAOS_KUBE_CONTEXT"),
        (a.namespace, "RPOCHAOS_KUBE_NAMESPACE"),
    ):
        if value:
            os.environ[env] = str(value)


def run_arguments(r: argparse.ArgumentParser) -> None:
    r.add_argument("scenario", help="a scenario file, or its name in scenarios/")
    r.add_argument(
        "--backend",
        default=None,
        help="where nodes run: local, docker or kubernetes (default: $RPOCHAOS_BACKEND, "
        "the scenario's backend key, else local)",
    )
    kube_arguments(r)
    r.add_argument(
        "--postgres-image",
        default=None,
        help="docker: PostgreSQL image (default $RPOCHAOS_PG_IMAGE, postgres:15, "
        "else the locally built rpochaos/postgres:15)",
    )
    r.add_argument(
        "--kafka-image",
        default=None,
        help="docker: Kafka image (default $RPOCHAOS_KAFKA_IMAGE, apache/kafka:3.9.2, "
        "else the locally built rpochaos/kafka:3.9.2)",
    )
    r.add_argument(
        "--toxiproxy-image",
        default=None,
        help="docker: Toxiproxy image (default $RPOCHAOS_TOXIPROXY_IMAGE, ...)",
    )
    r.add_argument("--out", type=Path, help="run directory (default: runs/<name>/<time>)")
    r.add_argument("--runs-root", type=Path, default=Path("runs"))
    r.add_argument("--seed", type=int)
    r.add_argument(
        "--keep-topology",
        action="store_true",
        help="leave nodes and proxies running and print how to reach them",
    )
    r.add_argument("-q", "--quiet", action="store_true", help="only the summary")
    r.add_argument(
        "--plain",
        action="store_true",
        help="progress as plain lines every 2 s (the default when not a terminal)",
    )
    r.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run N times; print meets-RPO %% and the spread of windows",
    )
    r.add_argument(
        "--observe-rate",
        type=float,
        default=10.0,
        metavar="HZ",
        help="replication-state samples per second (0: off; default 10)",
    )
    r.add_argument("--no-html", action="store_true", help="skip report.html")
    r.add_argument("--junit", metavar="FILE", help="write a JUnit XML file with the results")
    r.add_argument("--push-gateway", metavar="URL", help="push metrics to a Prometheus Pushgateway")
    r.add_argument("--push-job", default="rpochaos", metavar="NAME")


def validate_arguments(v: argparse.ArgumentParser) -> None:
    v.add_argument("files", nargs="+", help="scenario files, folders, globs or names")


def list_arguments(ls: argparse.ArgumentParser) -> None:
    ls.add_argument("dirs", nargs="*", help="folders, globs or names (default: scenarios/)")


def plan_arguments(pl: argparse.ArgumentParser) -> None:
    pl.add_argument("scenario", help="a scenario file, or its name in scenarios/")
    pl.add_argument("--seed", type=int, help="resolve random choices with this seed")


def report_arguments(rp: argparse.ArgumentParser) -> None:
    rp.add_argument("runs_root", nargs="?", default="runs", metavar="RUNS_DIR")


def images_arguments(im: argparse.ArgumentParser) -> None:
    im.add_argument("action", choices=["build", "status"])
    im.add_argument("--force", action="store_true", help="rebuild even when present")


def analyze_arguments(an: argparse.ArgumentParser) -> None:
    an.add_argument("run_dir")
    an.add_argument("--json", action="store_true")


def lost_arguments(lo: argparse.ArgumentParser) -> None:
    lo.add_argument("run_dir", metavar="RUN_DIR")
    # not choices=: ``export_lost`` says what it expects (and --help lists no subcommand)
    lo.add_argument("--format", default="csv", metavar="csv|sql")
    lo.add_argument("--out", type=Path, metavar="FILE", help="write to FILE (default: stdout)")


def gc_arguments(g: argparse.ArgumentParser) -> None:
    g.add_argument(
        "runs_root",
        nargs="?",
        default="runs",
        metavar="RUNS_ROOT",
        help="a runs root or one run directory (default: runs)",
    )
    g.add_argument(
        "--force",
        action="store_true",
        help="also runs whose owner is alive (e.g. kept with --keep-topology), but only "
        "those under RUNS_ROOT",
    )
    g.add_argument("--run", metavar="ID", help="only the run with this id (resolved.json: run_id)")


def no_arguments(_: argparse.ArgumentParser) -> None:
    pass
