# %% [markdown]
# # Tutorial 3: train a learned scheme and ship it as a registered scheme
#
# From data to a scheme the chain can compare: generate paired data, train an entropy-coded
# codec with `csifb train` (resumable, checkpointed), package the run's weights with a manifest
# (config, scenario, data seeds, steps, test metrics, sha256), and load it as a
# `LearnedScheme`. The quick run (`SIONNA_CSIFB_QUICK=1`, what the tests run) uses a tiny
# scenario and a few steps; the full one a few thousand steps on UMa.

# %%
import json
import os
import tempfile
from pathlib import Path

import sionna_csifb
from sionna_csifb.cli import main as csifb
from sionna_csifb.csi.scenario import get_scenario
from sionna_csifb.evaluation.chain import ChainConfig, draw_samples, evaluate_scheme
from sionna_csifb.schemes.base import register_scheme, get_scheme
from sionna_csifb.schemes.learned import LearnedScheme
from sionna_csifb.weights.registry import package_run

QUICK = os.environ.get("SIONNA_CSIFB_QUICK") == "1"
preset, n_train, steps = ("cpu-small", 256, 20) if QUICK else ("uma", 20000, 2000)
work = Path(tempfile.mkdtemp(prefix="csifb-tutorial-"))

# %% [markdown]
# ## Data: a training and a test set from different seeds

# %%
for split, n, seed in (("train", n_train, 100), ("test", 64, 200)):
    csifb(["generate", "--preset", preset, "--n", str(n), "--seed", str(seed),
           "--out", str(work / f"{split}.h5"), "--no-progress"])

# %% [markdown]
# ## Train
#
# `--model entropy --bits 40`: the entropy-coded codec with a hyperprior, trained with a rate
# constraint that settles the mean report length near 40 bits; `--task reconstruction`: the
# target is the CSI the UE measured. The same command resumes an interrupted run.

# %%
csifb(["train", "--model", "entropy", "--bits", "40", "--no-side-info", "--task", "reconstruction",
       "--train", str(work / "train.h5"), "--test", str(work / "test.h5"), "--steps", str(steps),
       "--batch-size", "32", "--out", str(work / "run"), "--no-progress"])
print(json.dumps(json.loads((work / "run" / "result.json").read_text())["test_metrics"], indent=1))

# %% [markdown]
# ## Ship and register
#
# `package_run` writes the weights and their manifest entry into a folder (the package's
# `sionna_csifb/weights` for the shipped ones: `scripts/package_weights.py`). Loading checks
# the sha256 and the config, and never executes code from the file.

# %%
package_run(work / "run", "my-entropy-40b", directory=work / "weights")
register_scheme("my-entropy-40b", weights="my-entropy-40b", directory=str(work / "weights"))(LearnedScheme)
scheme = get_scheme("my-entropy-40b")
print(scheme.description)

# %% [markdown]
# ## Compare it in the chain, over the coded uplink
#
# Its reports vary in length: the row has their mean, 95th percentile and the uplink REs.

# %%
scenario = get_scenario(preset)
row = evaluate_scheme(scheme, draw_samples(scenario, 16, seed=3), scenario,
                      ChainConfig(snr_dbs=[0.0], uplink="coded", ul_snr_db=10.0))
print(f"mean {row['payload_bits']:.1f} bits (p95 {row['payload_bits_p95']:.0f}), "
      f"{row['uplink_res']:.0f} uplink REs on average, SGCS {row['sgcs']:.3f}")
