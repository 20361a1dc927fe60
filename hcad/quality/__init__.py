"""Detection quality: labelled synthetic fleets (:mod:`~hcad.quality.synth`), scoring against labels
(:mod:`~hcad.quality.scoring`), config evaluation (:mod:`~hcad.quality.evaluate`) and the plugin's own
model run locally (:mod:`~hcad.quality.backtest`).
"""
