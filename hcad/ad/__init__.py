"""The anomaly-detection plugin: the detector model, its validation and YAML form, the REST client,
pre-flight checks against the live index, results as DataFrames, plan/apply of detector files, plots.

Data flows one way: a spec (YAML or Python) → :class:`~hcad.ad.model.Detector` (validated) →
:class:`~hcad.ad.client.AnomalyDetection` (one method per endpoint) → result frames
(:mod:`hcad.ad.results`). Import from the modules; ``hcad`` re-exports the main names lazily.
"""
