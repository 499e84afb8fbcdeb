"""Built-in web node kinds, registered by WebflowsConfig.ready()."""

from __future__ import annotations

from orchestration.registry import NodeKind


def builtin_kinds() -> list[NodeKind]:
    from webflows.kinds import batch_download, content_analysis, page_monitor, weibo

    return [page_monitor.KIND, weibo.KIND, batch_download.KIND, content_analysis.KIND]
