# %% [markdown]
# # Tutorial 1: paired FDD data and the metrics
#
# In FDD the UE measures the downlink (DL) channel **X**; the base station knows the uplink
# (UL) channel **Y** of the same link, on another carrier; by the time the BS precodes, the DL
# channel has aged into **Z**. `sionna_csifb` draws such triplets from Sionna's 3GPP models
# (TR 38.901) and measures how well any estimate of Z does.
#
# Run it as a script (`python docs/tutorials/01_data_and_metrics.py`) or open it as a
# notebook (`jupytext --to notebook docs/tutorials/01_data_and_metrics.py`). The test suite
# runs it with `SIONNA_CSIFB_QUICK=1`, a tiny scenario.

# %%
import os

import sionna_csifb  # selects Keras' torch backend; import it before keras
from sionna_csifb.csi.scenario import get_scenario
from sionna_csifb.csi.transforms import to_angular_delay
from sionna_csifb.evaluation.chain import draw_samples
from sionna_csifb.evaluation.metrics import nmse, sgcs, to_db

QUICK = os.environ.get("SIONNA_CSIFB_QUICK") == "1"
scenario = get_scenario("cpu-small" if QUICK else "uma")
print(scenario.name, "-", scenario.description)

# %% [markdown]
# ## A batch of paired samples
#
# `draw_samples` returns X, Y, Z as complex spatial-frequency CSI `[batch, BS antennas,
# subcarriers]`, normalised per UE to unit mean power per entry of X (as with power control).

# %%
data = draw_samples(scenario, 16 if QUICK else 128, seed=0)
print("X (DL now):", tuple(data.x.shape), data.x.dtype)
print("Y (UL):    ", tuple(data.y.shape))
print("Z (DL when the BS precodes):", tuple(data.z.shape))

# %% [markdown]
# ## The metrics
#
# NMSE $\lVert Z - \hat Z\rVert^2 / \lVert Z\rVert^2$ and the squared generalised cosine
# similarity per subcarrier, $\mathrm{SGCS} = |z^H \hat z|^2 / (\lVert z\rVert^2 \lVert\hat z\rVert^2)$,
# which is what a beamformer cares about. Two estimates that need no feedback at all: the
# outdated DL CSI X (as if the UE fed back perfectly, 5 ms ago) and the UL CSI Y.

# %%
for name, est in (("outdated DL CSI X", data.x), ("UL CSI Y (no feedback)", data.y)):
    print(f"{name:24s} NMSE {to_db(nmse(data.z, est)):6.2f} dB   SGCS {float(sgcs(data.z, est).mean()):.3f}")

# %% [markdown]
# ## The angular-delay domain
#
# Learned codecs compress the channel where it is sparse: a 2-D DFT over antennas and
# subcarriers, cropped to the first delay taps.

# %%
g = to_angular_delay(data.x, scenario.num_taps, scenario.window_start)
kept = float(g.abs().pow(2).sum() / (data.x.abs().pow(2).sum()))
print("angular-delay crop:", tuple(g.shape), f"keeps {100 * kept:.1f}% of the energy")
