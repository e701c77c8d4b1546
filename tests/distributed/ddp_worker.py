"""Run by tests/distributed/test_ddp.py under torchrun: train a tiny CsiNet, write rank 0's losses."""

import json
import sys

import sionna_csifb
import keras  # noqa: E402  (after sionna_csifb: torch backend)
from sionna_csifb.data.hdf5 import CSIDataset
from sionna_csifb.models.sizes import build_model, model_config
from sionna_csifb.training import TrainingConfig, distributed_context, leave_distributed, train

def main():
    data, out, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sionna_csifb.config.device = "cpu"
    keras.utils.set_random_seed(0)  # the same initial weights in both runs (DDP broadcasts rank 0's)
    ds = CSIDataset(data)
    model = build_model("csinet", model_config("csinet", "small", 24, input_size=(8, 8)), ds.scenario)
    r = train(model, ds, TrainingConfig(steps=5, batch_size=batch, learning_rate=3e-3, checkpoint_every=5),
              out + "/run", progress=False)
    rank, world = distributed_context()
    if rank == 0:
        with open(out + "/losses.json", "w") as f:
            json.dump({"world": world, "step_losses": r["step_losses"]}, f)
    leave_distributed()


if __name__ == "__main__":
    main()
