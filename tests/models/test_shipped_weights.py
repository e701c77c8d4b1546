"""Every shipped weights file loads through the registry's checks (sha256, config) and is complete:
entropy coders frozen, decoding what they encode."""

import numpy as np
import pytest
import torch

from sionna_csifb.weights.registry import list_bundled, load_model


@pytest.mark.parametrize("name", list_bundled())
def test_shipped_weights_load(name):
    model, entry = load_model(name)
    assert entry["train_data"]["seed"] != entry["test_data"]["seed"]
    assert entry["training"]["steps"] > 0 and np.isfinite(entry["test_metrics"]["nmse_ad_db"])
    if entry["model"] == "entropy":  # frozen tables travel with the weights; a report decodes exactly
        assert model.frozen
        n, f = model.csi_shape
        rng = np.random.default_rng(0)
        h = (rng.standard_normal((2, n, f)) + 1j * rng.standard_normal((2, n, f))).astype("complex64")
        with torch.no_grad():
            x, _ = model.pack(h)
            p = model.compress_packed(x)
            fine = model.last_levels == 0  # a model with a budget may coarsen a report to fit it
            np.testing.assert_allclose(np.asarray(model.decompress_packed(p))[fine],
                                       np.asarray(model.forward_packed(x)["x_hat"])[fine], atol=1e-4)
        if model.max_bits is not None:
            from sionna_csifb.models.entropy_codec import RATE_LEVELS

            assert ((p.num_bits <= model.max_bits) | (model.last_levels == RATE_LEVELS - 1)).all()


def test_weights_fine_tuned_on_a_mix_are_in_distribution_on_each_scenario():
    """eigen-ent-118b-mix (eigen-ent-118b-uma fine-tuned on UMa, UMi and the realistic CDL-C):
    its manifest lists all three and the weights it started from; other presets stay refused."""
    from sionna_csifb.csi.scenario import get_scenario
    from sionna_csifb.schemes.learned import LearnedScheme

    s = LearnedScheme("eigen-ent-118b-mix")
    assert s.trained_scenarios == ["uma", "umi", "realistic-cdl-c"]
    assert all(s.trained_for(get_scenario(n)) for n in s.trained_scenarios)
    assert not s.trained_for(get_scenario("tr38843-uma"))
    _, entry = load_model("eigen-ent-118b-mix")
    assert entry["training"]["init_from"] == "eigen-ent-118b-uma" and entry["training"]["total_steps"] == 16000


def test_calibrated_ue_refinements_register_and_were_calibrated_off_the_test_set():
    from sionna_csifb.models.refinement import LatentRefinement
    from sionna_csifb.schemes.base import get_scheme, list_schemes
    from sionna_csifb.weights.registry import manifest_entry

    refined = [n for n in list_bundled() if "ue_refinement" in manifest_entry(n)]
    for name in refined:
        e = manifest_entry(name)
        block = e["ue_refinement"]
        LatentRefinement.from_dict({k: block[k] for k in ("steps", "learning_rate", "rate_scale")})
        assert block["calibration"]["seed"] == e["train_data"]["seed"] != e["test_data"]["seed"]
        assert abs(block["test_metrics"]["payload_bits"] - block["target_bits"]) <= 10
        assert f"{name}-refined" in list_schemes()
        assert get_scheme(f"{name}-refined-held").budget_bits == round(block["target_bits"])
    if refined:
        s = get_scheme(f"{refined[0]}-refined")
        assert s.model.latent_refinement is not None and s.mean_payload_bits == \
            manifest_entry(refined[0])["ue_refinement"]["test_metrics"]["payload_bits"]
