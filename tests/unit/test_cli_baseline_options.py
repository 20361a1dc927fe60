"""``hcad baseline``: bad settings are one line naming the option, before any connection is made."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hcad.cli.main import main

DEAD = ["--url", "http://127.0.0.1:9"]  # a closed port: nothing may be asked of it
BASE = ["baseline", "idx", "--into", "dest", "-f", "host", "-m", "cpu", "--from", "now-1d", "--to", "now"]


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--interval", "7m"], "--interval: 7 minutes do not divide a day (use e.g. 10)"),
        (["--interval", "30s"], "--interval: 30s is not a whole number of minutes (use e.g. 10m)"),
        (["--local", "-1"], "--local: must be at least 0 (use e.g. 36, or 0 for none)"),
        (["--scale", "-5"], "--scale: must be at least 0 (use e.g. 1008, or 0 for none)"),
        (["--fleet-fit", "-1"], "--fleet-fit: must be at least 0 (use e.g. 1008, or 0 for none)"),
        (
            ["--no-fleet", "--fleet-fit", "1008"],
            "--fleet-fit: fits a share of the fleet's moves, which --no-fleet keeps (drop one)",
        ),
        (["--days", "0"], "--days: must be at least 1 (use e.g. 7)"),
        (["--stretch", "-1"], "--stretch: must be at least 0 (use e.g. 4, or 0 for none)"),
        (["--stretch", "4", "--knee", "0"], "--knee: must be above 0 spreads (use e.g. 4.5)"),
        (
            ["--stretch", "4", "--scale", "0"],
            "--stretch: needs scale: the knee is in each entity's spreads (use e.g. scale 1008)",
        ),
        (
            ["--stretch", "4", "--stretch-metric", "mem"],
            "--stretch-metric: mem is not a --metric (name metrics given with --metric)",
        ),
        (["--stretch-metric", "cpu"], "--stretch-metric: nothing is stretched with --stretch 0 (add e.g. --stretch 4)"),
        (["--shingle", "0"], "--shingle: 0 is out of range (use 1 to 128; the default here is 2)"),
        (
            ["-m", "cpu_local", "--alone", "cpu", "--season", "week"],
            "--alone: cpu's field cpu_local_vs_baseline would be --metric cpu_local's too (rename that metric)",
        ),
    ],
)
def test_bad_settings_name_the_option_and_its_fix(capsys, extra, said) -> None:
    with pytest.raises(SystemExit) as e:
        main([*DEAD, *BASE, *extra])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.strip() == f"hcad: error: hcad baseline: {said}", err


def test_option_defaults_are_the_recommended_ones() -> None:
    """The command spells its defaults out (numpy stays out of the CLI's start-up); they must be what
    :mod:`hcad.quality.baseline` recommends, which the trial and the README's tables were measured with."""
    from hcad.cli.baseline import baseline as command
    from hcad.quality import baseline as bl

    defaults = {p.name: p.default for p in command.params}
    rec = bl.RECOMMENDED
    assert defaults["shingle"] == bl.RECOMMENDED_SHINGLE
    # --spreads and --spreads-below follow --season too (tests/integration/test_cli_baseline.py checks the
    # margins printed); the weekly ones are narrower.
    assert defaults["spreads"] is None and defaults["spreads_below"] is None
    assert bl.RECOMMENDED_WEEKLY_SPREADS < bl.RECOMMENDED_SPREADS
    assert bl.RECOMMENDED_WEEKLY_SPREADS_BELOW < bl.RECOMMENDED_SPREADS_BELOW
    assert defaults["days"] == rec.days
    # --mode, --stretch and --knee follow RECOMMENDED (or RECOMMENDED_WEEKLY) too; their help says ratio, 0, 4.5.
    assert (defaults["mode"], defaults["stretch"], defaults["knee"]) == (None, None, None)
    assert (rec.mode, rec.stretch, rec.knee, rec.stretched) == ("ratio", 0.0, 4.5, ())
    assert (bl.RECOMMENDED_WEEKLY.mode, bl.RECOMMENDED_WEEKLY.stretch) == ("ratio", 0.0)
    mode = next(p for p in command.params if p.name == "mode")
    assert tuple(mode.type.choices) == bl.MODES  # every form the library computes, spelled out for start-up
    # --local follows --season (read from RECOMMENDED or RECOMMENDED_WEEKLY when the command runs): the weekly
    # baseline has no local level (its lag gives lasting events an echo).
    assert defaults["local"] is None
    assert (rec.local, bl.RECOMMENDED_WEEKLY.local) == (36, 0)
    assert replace(rec, season="week", local=0, scale=0, fleet_fit=0) == bl.RECOMMENDED_WEEKLY
    # --scale and --fleet-fit follow --season the same way: only the daily baseline scales each entity's field
    # and fits its share of the fleet's moves.
    assert defaults["scale"] is None and (rec.scale, bl.RECOMMENDED_WEEKLY.scale) == (1008, 0)
    assert defaults["fleet_fit"] is None and (rec.fleet_fit, bl.RECOMMENDED_WEEKLY.fleet_fit) == (1008, 0)
    assert rec.fleet  # --no-fleet is a flag: the fleet's median is removed unless it is given
