"""A learned CSI-feedback layer inside your own Sionna 2 link, trained end to end through it.

Description:
    Everything around the feedback model is plain Sionna 2 (PyTorch): a 3GPP CDL model
    (TR 38.901) gives the downlink channel of a 32-antenna BS and a 1-antenna UE on an OFDM
    grid, and the uplink channel of the same link on its own carrier. A CsiNet codec from
    ``sionna_csifb`` (a :class:`~sionna_csifb.models.codec.LearnedCodec`) compresses the DL CSI
    to bits at the UE; the bits are QPSK-modulated (Gray, Sionna's QAM-4 constellation written
    as a linear map of the bits so it passes gradients), mapped on a Sionna ``ResourceGrid``,
    sent through the UL channel (``ApplyOFDMChannel``), combined over the 32 BS antennas by
    Sionna's ``LMMSEEqualizer`` and soft-demapped by Sionna's ``Demapper``; the BS decodes the
    bit probabilities ``sigmoid(LLR)``. A few Adam steps train the encoder and decoder through
    this chain: the encoder's gradient crosses Sionna's channel, equaliser and demapper. Then
    the BS precodes (MRT) with the reconstructed CSI, compared with 3GPP Type I (7 bits) and
    Rel-16 eType II from ``sionna_csifb`` and with perfect CSI.

    A few dozen CPU steps only show the plumbing: such a model is far from trained, so it
    loses to the codebooks here (the printout says so). ``csifb train`` trains on datasets.

Expected runtime: about 1 minute on 2 CPU cores with the defaults.

Usage:
    python examples/custom_sionna_link.py
    python examples/custom_sionna_link.py --steps 200 --ul-snr-db -5
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import sionna_csifb  # noqa: F401  (selects Keras' torch backend before keras is imported)
import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sionna.phy import config as sionna_config  # noqa: E402
from sionna.phy.channel import ApplyOFDMChannel, cir_to_ofdm_channel, subcarrier_frequencies  # noqa: E402
from sionna.phy.channel.tr38901 import CDL, PanelArray  # noqa: E402
from sionna.phy.mapping import Demapper  # noqa: E402
from sionna.phy.mimo import StreamManagement  # noqa: E402
from sionna.phy.ofdm import LMMSEEqualizer, ResourceGrid, ResourceGridMapper  # noqa: E402

from sionna_csifb.csi.transforms import normalize_power  # noqa: E402
from sionna_csifb.evaluation.metrics import sgcs  # noqa: E402
from sionna_csifb.evaluation.precoding import bf_gain_db  # noqa: E402
from sionna_csifb.models.csinet import QuantizedAutoencoder  # noqa: E402
from sionna_csifb.schemes.base import get_scheme  # noqa: E402

NUM_ANT, NUM_SC, SCS, F_DL, F_UL = 32, 72, 30e3, 2.11e9, 1.91e9


class CDLLink:
    """The user's channels: CDL-C DL (BS -> UE) and UL (UE -> BS) on an OFDM grid, one drop per sample."""

    def __init__(self):
        self.freqs = subcarrier_frequencies(NUM_SC, SCS)
        self.models = {}
        for name, fc in (("dl", F_DL), ("ul", F_UL)):
            bs = PanelArray(num_rows_per_panel=1, num_cols_per_panel=NUM_ANT, polarization="single",
                            polarization_type="V", antenna_pattern="38.901", carrier_frequency=fc)
            ue = PanelArray(num_rows_per_panel=1, num_cols_per_panel=1, polarization="single",
                            polarization_type="V", antenna_pattern="omni", carrier_frequency=fc)
            self.models[name] = CDL("C", 100e-9, fc, ut_array=ue, bs_array=bs, direction="downlink",
                                    min_speed=0.8, max_speed=0.8)

    def __call__(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """DL CSI `[B, 32, F]` (as the UE measures it) and UL channel `[B, 32, F]` (BS antennas x SC)."""
        out = []
        for name in ("dl", "ul"):
            a, tau = self.models[name](batch, 1, 1.0)
            h = cir_to_ofdm_channel(self.freqs, a, tau)           # [B, 1, 1, 1, 32, 1, F]
            out.append(h[:, 0, 0, 0, :, 0, :])
        return out[0], out[1]


class QPSKUplink(torch.nn.Module):
    """Feedback bits over the UL: QPSK on a Sionna resource grid, UL channel, LMMSE over 32 antennas,
    soft demapping. Returns P(bit = 1) = sigmoid(LLR) (Sionna's LLR is log P(1)/P(0))."""

    def __init__(self, num_bits: int):
        super().__init__()
        self.num_symbols = num_bits // 2
        self.rg = ResourceGrid(num_ofdm_symbols=1, fft_size=self.num_symbols, subcarrier_spacing=SCS)
        self.rgm, self.chan = ResourceGridMapper(self.rg), ApplyOFDMChannel()
        self.eq = LMMSEEqualizer(self.rg, StreamManagement(np.ones([1, 1], int), 1))
        self.demapper = Demapper("app", "qam", 2)

    def forward(self, bits: torch.Tensor, h_ul: torch.Tensor, no: float) -> torch.Tensor:
        b = bits.reshape(bits.shape[0], -1, 2)
        x = torch.complex(1 - 2 * b[..., 0], 1 - 2 * b[..., 1]) / math.sqrt(2)   # = Sionna's QAM-4 (Gray)
        h = h_ul[:, None, :, None, None, None, : self.num_symbols]                # [B, 1, 32, 1, 1, 1, k]
        y = self.chan(self.rgm(x[:, None, None, :]), h, no)                     # [B, 1, 32, 1, k]
        x_hat, no_eff = self.eq(y, h, 0.0, no)                                  # perfect UL CSI at the BS
        llr = self.demapper(x_hat, no_eff)                                      # [B, 1, 1, 2k]
        return torch.sigmoid(llr.reshape(bits.shape))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=150, help="training steps through the link")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--bits", type=int, default=64, help="feedback payload (CsiNet: 6 bits per latent value)")
    ap.add_argument("--ul-snr-db", type=float, default=-10.0, help="uplink SNR per BS antenna")
    ap.add_argument("--eval-samples", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args(argv)

    t_start = time.time()
    sionna_config.seed = args.seed
    keras.utils.set_random_seed(args.seed)
    link = CDLLink()
    # The learned feedback layer: complex CSI [B, 32, F] in, complex estimate out; the crop keeps 16 delay taps.
    codec = QuantizedAutoencoder("csinet", num_bits=args.bits, input_size=(NUM_ANT, 16), num_subcarriers=NUM_SC,
                                 side_info=False)
    uplink = QPSKUplink(codec.payload_bits)
    no = 10 ** (-args.ul_snr_db / 10)
    opt = torch.optim.Adam(codec.parameters(), lr=5e-3)
    enc_params = list(codec.enc_dense.parameters())
    losses, grad_norm = [], None
    for step in range(args.steps):
        h_dl, h_ul = link(args.batch)
        h_ul = normalize_power(h_ul)[0]
        out = codec(h_dl, training=True, channel=lambda b: uplink(b, h_ul, no))   # noqa: B023
        target = h_dl / out["scale"][:, None, None]            # the estimate is in the UE-normalised units
        loss = (out["h_hat"] - target).abs().pow(2).mean() / target.abs().pow(2).mean()
        opt.zero_grad()
        loss.backward()
        if step == 0:
            grad_norm = float(torch.sqrt(sum(p.grad.pow(2).sum() for p in enc_params)))
            print(f"step 0: UE encoder gradient norm through Sionna's channel = {grad_norm:.3e}")
        opt.step()
        losses.append(float(loss.detach()))
        if (step + 1) % 20 == 0 or step + 1 == args.steps:
            print(f"step {step + 1}: NMSE {10 * math.log10(np.mean(losses[-20:])):.2f} dB")

    # Evaluation: the exact path (compress -> real bits over the same uplink, hard decisions -> decompress).
    codec.eval()
    with torch.no_grad():
        h_dl, h_ul = link(args.eval_samples)
        h_ul = normalize_power(h_ul)[0]
        bits = torch.as_tensor(codec.compress(h_dl)).float()
        rx_bits = (uplink(bits, h_ul, no) > 0.5).int()
        rows = {"learned (CsiNet, this example)": (codec.payload_bits, codec.decompress(rx_bits)),
                "perfect CSI": (None, h_dl)}
        for name in ("type1-wb", "etype2-pc1"):  # codebook reports: error-free uplink
            s = get_scheme(name)
            msg = s.encode(h_dl)
            rows[f"3GPP {name}"] = (int(msg.num_bits[0]), s.decode(msg))
    print(f"\n{'feedback':32s} {'bits':>5s} {'SGCS':>6s} {'MRT gain dB':>11s}")
    results = []
    for name, (nb, est) in rows.items():
        r = {"scheme": name, "bits": nb, "sgcs": float(sgcs(h_dl, est).mean()), "bf_gain_db": bf_gain_db(h_dl, est)}
        results.append(r)
        print(f"{name:32s} {str(nb or '-'):>5s} {r['sgcs']:6.3f} {r['bf_gain_db']:11.2f}")
    bit_errors = float((rx_bits != bits.int()).float().mean())
    print(f"uplink bit error rate {bit_errors:.2e} at {args.ul_snr_db:g} dB; {args.steps} training steps: "
          "a model this briefly trained is not expected to beat the codebooks (whose reports are "
          "taken as received without errors).")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"steps": args.steps, "encoder_grad_norm_step0": grad_norm,
                                         "losses": losses, "uplink_ber": bit_errors, "rows": results,
                                         "seconds": time.time() - t_start}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
