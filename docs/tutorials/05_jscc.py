# %% [markdown]
# # Tutorial 5: analog feedback with RD-JSCC over the fading uplink
#
# Joint source-channel coding sends the CSI as complex channel symbols instead of bits: the
# report degrades with the uplink SNR instead of being lost. This tutorial trains RD-JSCC (a
# lightweight CNN autoencoder + residual diffusion refinement) through Sionna's OFDM uplink,
# looks at NMSE vs UL SNR with and without refinement, and compares it in the chain with a
# digital report sent in the same number of uplink resource elements. The quick run
# (`SIONNA_CSIFB_QUICK=1`, what the tests run) uses a tiny scenario and a few steps.

# %%
import json
import os
import tempfile
from pathlib import Path

import torch

import sionna_csifb
from sionna_csifb.cli import main as csifb
from sionna_csifb.csi.scenario import get_scenario
from sionna_csifb.data.hdf5 import CSIDataset
from sionna_csifb.evaluation.chain import ChainConfig, draw_samples, evaluate_scheme
from sionna_csifb.evaluation.uplink import CodedUplink
from sionna_csifb.schemes.base import get_scheme, scheme_overrides
from sionna_csifb.schemes.learned import LearnedScheme
from sionna_csifb.training import analog_uplink_kwargs, batch_to_csi, evaluate_model
from sionna_csifb.weights.registry import package_run

QUICK = os.environ.get("SIONNA_CSIFB_QUICK") == "1"
preset, n_train, steps, k = ("cpu-small", 256, 10, 24) if QUICK else ("uma", 40000, 1500, 64)
work = Path(tempfile.mkdtemp(prefix="csifb-jscc-"))

# %% [markdown]
# ## Data

# %%
for split, n, seed in (("train", n_train, 100), ("test", 64, 200)):
    csifb(["generate", "--preset", preset, "--n", str(n), "--seed", str(seed),
           "--out", str(work / f"{split}.h5"), "--no-progress"])

# %% [markdown]
# ## Train both stages
#
# Stage 1 trains the encoder and decoder through each sample's own UL channel (Sionna's
# `ApplyOFDMChannel`, MRC over the BS antennas) at SNRs drawn from -10 to 20 dB; stage 2 trains
# the U-Net of the residual diffusion with both frozen. `--symbols` is k, the complex symbols
# (uplink REs) per report.

# %%
csifb(["train", "--model", "jscc", "--symbols", str(k), "--task", "reconstruction",
       "--train", str(work / "train.h5"), "--test", str(work / "test.h5"), "--steps", str(steps),
       "--refine-steps", str(steps), "--batch-size", "32", "--out", str(work / "run"), "--no-progress"])
result = json.loads((work / "run" / "result.json").read_text())
print(json.dumps(result["test_metrics"], indent=1))

# %% [markdown]
# ## NMSE vs UL SNR: the coarse estimate, 2 and all refinement steps
#
# `num_inference_steps=0` is the coarse estimate alone (stage 1).

# %%
from sionna_csifb.models.sizes import build_model

model = build_model("jscc", result["model_config"])
model.load_weights(work / "run" / "final.weights.h5")
test = CSIDataset(work / "test.h5")
for snr in (-10.0, 0.0, 10.0, 20.0):
    row = [evaluate_model(model, test, task="reconstruction", ul_snr_db=snr, num_inference_steps=s)["nmse_ad_db"]
           for s in (0, 2, None)]
    print(f"UL SNR {snr:+5.1f} dB: coarse {row[0]:6.2f} dB, 2 steps {row[1]:6.2f} dB, all steps {row[2]:6.2f} dB")

# %% [markdown]
# ## In the chain, against a digital report in the same REs
#
# The analog scheme's k symbols take k uplink REs. `CodedUplink.for_res` picks the code rate and
# QAM order that send a digital report (+ CRC-24A) in exactly k REs; when its LDPC decoding
# fails, the report is lost and the BS falls back to the UL CSI.

# %%
package_run(work / "run", "my-rdjscc", directory=work / "weights")
analog = LearnedScheme("my-rdjscc", directory=work / "weights")
scenario = get_scenario(preset)
digital = get_scheme("type1-wb", **scheme_overrides("type1-wb", scenario.num_bs_ant))
link = CodedUplink.for_res(digital.nominal_payload_bits, k)
print(f"type1-wb: {digital.nominal_payload_bits} bits in {k} REs: {2 ** link.num_bits_per_symbol}-QAM, "
      f"code rate {link.code_rate:.2f}")
data = draw_samples(scenario, 32, seed=3)
for snr in (-20.0, -10.0, 0.0):
    a = evaluate_scheme(analog, data, scenario, ChainConfig(snr_dbs=[0.0], ul_snr_db=snr))
    d = evaluate_scheme(digital, data, scenario, ChainConfig(snr_dbs=[0.0], ul_snr_db=snr, uplink="coded",
                                                             ul_code_rate=link.code_rate,
                                                             ul_bits_per_symbol=link.num_bits_per_symbol))
    print(f"UL {snr:+5.1f} dB: analog SGCS {a['sgcs']:.3f} | digital SGCS {d['sgcs']:.3f}, "
          f"reports lost {d['reports_lost']:.2f}")

# %% [markdown]
# ## Train through your own uplink
#
# The codec's `channel` hook takes the power-normalised symbols as real pairs `[B, k, 2]`.
# `analog_uplink_kwargs` gives the package's fading uplink; any differentiable torch function
# of the same shape works (here: the fading uplink plus a phase error).

# %%
b = batch_to_csi(next(test.batches(16, real=False)), scenario)
kw = analog_uplink_kwargs(model, b["y"], snr_db=torch.full((16,), 5.0))
fading = kw["channel"]


def my_uplink(s):
    r = torch.view_as_complex(fading(s).contiguous()) * torch.exp(torch.tensor(0.05j))
    return torch.view_as_real(r)


model.training_stage = 1
opt = torch.optim.Adam(model.parameters(), lr=1e-4)
loss = model.training_loss(b["x"], channel=my_uplink, snr_db=kw["snr_db"])
loss.backward()
opt.step()
print(f"one step through a custom uplink: loss {float(loss.detach()):.3f}")
