"""CloudWatch → OpenSearch bridge: replicate a fleet's metrics into the index HCAD detectors read.

See ``hcad/bridge/README.md`` for the index shape, the config and the AWS deployment. Modules:
:mod:`~hcad.bridge.mapping` (config and pure transform), :mod:`~hcad.bridge.fetch` (CloudWatch),
:mod:`~hcad.bridge.sink` (OpenSearch via requests), :mod:`~hcad.bridge.dlq` (dead letters and
re-drive), :mod:`~hcad.bridge.runner` (shards, windows, checkpoints), :mod:`~hcad.bridge.handlers`
(Lambda entry points). Nothing here imports opensearch-py, so the Lambda package stays small.
"""
