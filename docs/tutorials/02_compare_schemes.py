# %% [markdown]
# # Tutorial 2: compare feedback schemes by throughput
#
# Every feedback scheme, classical or learned, implements one interface
# (`FeedbackScheme.encode` at the UE, `decode` at the BS) and is registered by name. The chain
# sends each scheme's report over an uplink, reconstructs the CSI, precodes over the **future**
# channel Z and measures NMSE, SGCS, beamforming gain and throughput (Sionna's PHY
# abstraction), single-user MRT and multi-user RZF. `examples/fdd_precoding.py` does this for
# every registered scheme and writes JSON and plots; here are the parts.

# %%
import os

import sionna_csifb
from sionna_csifb.csi.scenario import get_scenario
from sionna_csifb.evaluation.chain import ChainConfig, draw_samples, evaluate_scheme
from sionna_csifb.schemes.base import get_scheme, list_schemes, scheme_overrides

QUICK = os.environ.get("SIONNA_CSIFB_QUICK") == "1"
scenario = get_scenario("cpu-small" if QUICK else "uma")
data = draw_samples(scenario, 16 if QUICK else 256, seed=1)
print(len(list_schemes()), "registered schemes, e.g.", list_schemes()[:6])

# %% [markdown]
# ## The schemes
#
# The genie bound (`perfect`: the BS knows Z), no feedback (`ul-reuse`), 3GPP Type I (7 bits)
# and Rel-16 eType II at its parameter combinations 1 and 3 (65 and 118 bits). Learned schemes
# are registered under the names of their shipped weights; one trained for this scenario is
# added when there is one (a model used outside the scenario it was trained on is refused
# unless you opt in: `ChainConfig(allow_out_of_distribution=True)`).

# %%
names = ["perfect", "ul-reuse", "type1-wb", "etype2-pc1", "etype2-pc3"]
learned = [n for n in list_schemes() if get_scheme(n, **scheme_overrides(n, scenario.num_bs_ant)).trained_for(scenario)
           and n not in names and n.startswith(("entropy", "diffusion", "csinet", "crnet"))]
names += learned
print("learned schemes trained for", scenario.name, ":", learned or "none")

# %% [markdown]
# ## Through the chain
#
# An ideal uplink here (pure compression); `uplink="coded"` sends the bits with CRC, LDPC and
# QAM over the scenario's own UL fading channel, and a lost report falls back to the UL CSI.

# %%
cfg = ChainConfig(snr_dbs=[0.0], num_ues=4, uplink="ideal")
print(f"{'scheme':24s} {'bits':>6s} {'SGCS':>6s} {'MU-RZF Mbit/s':>14s}")
for name in names:
    scheme = get_scheme(name, **scheme_overrides(name, scenario.num_bs_ant))
    row = evaluate_scheme(scheme, data, scenario, cfg)
    bits = "-" if row["payload_bits"] is None else f"{row['payload_bits']:.0f}"
    print(f"{name:24s} {bits:>6s} {row['sgcs']:6.3f} {row['snr']['0.0']['mu_rzf']['throughput_mbps']:14.1f}")
