import dataclasses

import pytest

from sionna_csifb.csi.scenario import PRESETS, Scenario, get_scenario, list_presets


class TestScenario:
    def test_paper_preset_matches_paper(self):
        s = get_scenario("paper-cdl-c")
        assert (s.channel_model, s.profile, s.delay_spread) == ("cdl", "C", 300e-9)
        assert (s.num_bs_ant, s.num_subcarriers, s.subcarrier_spacing) == (32, 667, 15e3)
        assert (s.carrier_frequency_dl, s.carrier_frequency_ul) == (2.11e9, 1.91e9)
        assert (s.ue_speed, s.horizon, s.num_taps, s.window_start) == (5.0, 5e-3, 32, 0)
        assert (s.bs_antenna_pattern, s.ue_antenna_pattern, s.polarization_type) == ("38.901", "omni", "V")

    @pytest.mark.parametrize("name", list_presets())
    def test_json_round_trip(self, name):
        s = PRESETS[name]
        assert Scenario.from_json(s.to_json()) == s

    def test_selectable_models(self):
        assert {PRESETS[n].channel_model for n in PRESETS} == {"cdl", "tdl", "umi", "uma"}
        assert {PRESETS[n].profile for n in PRESETS if n.startswith("cdl")} == set("ABDE")

    def test_differences_name_fields(self):
        a = get_scenario("paper-cdl-c")
        assert a.differences(a.replace(num_taps=16, ue_speed=3.0)) == ["ue_speed", "num_taps"]

    @pytest.mark.parametrize(
        "field,value",
        [("channel_model", "rayleigh"), ("num_taps", 0), ("ue_speed", -1.0), ("horizon", 0.0),
         ("ul_phases", "random"), ("num_taps", 1000), ("bs_yaw_spread_deg", float("nan"))],
    )
    def test_bad_field(self, field, value):
        with pytest.raises(ValueError, match=f"`{field}`"):
            dataclasses.replace(get_scenario("paper-cdl-c"), **{field: value})

    def test_unknown_preset_lists_known(self):
        with pytest.raises(ValueError, match="paper-cdl-c"):
            get_scenario("cdl-z")

    def test_unknown_field(self):
        with pytest.raises(ValueError, match="bogus"):
            get_scenario("cpu-small", bogus=1)
        with pytest.raises(ValueError, match="bogus"):
            Scenario.from_dict({"bogus": 1})


def test_tr38843_presets_and_indoor_probability():
    from sionna_csifb.csi.scenario import get_scenario

    s = get_scenario("tr38843-uma")
    assert s.indoor_probability == 0.8 and abs(s.ue_speed * 3.6 - 3.0) < 1e-9 and s.ul_phases == "independent"
    assert get_scenario("uma").differences(s)  # not the outdoor 5 m/s UMa preset
    for bad in ({"indoor_probability": 1.5}, {"indoor_probability": -0.1}):
        with pytest.raises(ValueError, match="indoor_probability"):
            get_scenario("uma", **bad)
    with pytest.raises(ValueError, match="indoor_probability"):
        get_scenario("cdl-a", indoor_probability=0.5)
