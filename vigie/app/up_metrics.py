"""What `vigie up` serves on /metrics besides its services' own metrics: build info, the children's metric
files, the archive manifest's age. Here, in the composition root, because it reaches into several parts."""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.multiprocess import MultiProcessCollector

from vigie.metrics import prepare_children_metrics

if TYPE_CHECKING:
    from vigie.config import Config


def register_up_metrics(registry: CollectorRegistry, cfg: Config) -> None:
    """What `vigie up` serves besides its services' own metrics: build info, the children's metrics, archive age."""
    from vigie import __version__

    Gauge("vigie_build_info", "Always 1; the labels say which Vigie runs", ["version", "python"],
          registry=registry).labels(__version__, platform.python_version()).set(1)
    MultiProcessCollector(registry, path=str(prepare_children_metrics(cfg.state_dir)))
    if cfg.archive.enabled:
        from vigie.pipelines.archive.manifest import ManifestAgeCollector

        registry.register(ManifestAgeCollector(cfg.archive.root))
