"""FDD precoding with fed-back CSI: compare feedback schemes by end-to-end throughput.

Description:
    Draws paired FDD samples (DL CSI now X, UL CSI Y and DL CSI Z 5 ms later) from Sionna's
    3GPP channel models; every registered feedback scheme encodes X at the UE, the report
    crosses the uplink, the BS decodes it (with Y as side information) and precodes over the
    true future channel Z: single-user MRT and multi-user ZF/RZF with K co-scheduled UEs.
    Prints, per scheme: payload bits, uplink resource elements (coded uplink: CRC-24A,
    LDPC rate 1/3, QPSK), NMSE and SGCS of the CSI estimate against Z, the MRT beamforming
    gain, and SU/MU throughput from Sionna's PHY abstraction (5G LDPC BLER tables, best MCS
    of the PDSCH table at each SNR), as % of the perfect-CSI throughput.
    Learned schemes appear automatically once registered (sionna_csifb.schemes.base); those
    trained for another scenario are skipped unless --allow-ood (rows then marked OOD).
    Analog (JSCC) schemes send k complex symbols (k uplink REs, no bits) over the fading
    uplink at --ul-snr-db; --ul-sweep compares them over a range of UL SNRs with the digital
    schemes sent over the coded uplink in the same k REs (code rate and QAM order that fill
    them), where a lost report falls back to the UL CSI.
    Default scenario: 38.901 UMa (drops drawn per sample). ``--scenario paper-cdl-c`` is the
    reproduction preset of Kim et al., where the UL CSI nearly determines the future DL CSI
    (the caveat is printed next to its numbers).

Expected runtime: --quick about 1-2 minutes on 2 CPU cores; the default run (512 samples,
six SNRs, coded-link validation) about 10 minutes.

Usage:
    python examples/fdd_precoding.py --quick
    python examples/fdd_precoding.py --json results/fdd.json --uplink coded --ul-snr-db -10
    python examples/fdd_precoding.py --schemes perfect type1-sb etype2-pc3 --max-bits 200
    python examples/fdd_precoding.py --quick --ul-sweep -10 -5 0 5 10 15 20
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import sionna_csifb
from sionna_csifb.csi.scenario import get_scenario, list_presets
from sionna_csifb.evaluation.chain import ChainConfig, draw_samples, evaluate_scheme
from sionna_csifb.schemes.base import get_scheme, list_schemes, scheme_overrides


def _finite(v):
    """JSON has no -inf: perfect CSI has NMSE -inf dB, written as null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    return v


def select_schemes(names, max_bits, num_ant=32):
    names = names or list_schemes()
    schemes = [get_scheme(n, **scheme_overrides(n, num_ant)) for n in names]  # unknown ids list the known ones
    if max_bits is None:
        return schemes
    fits = [s for s in schemes  # variable-length reports: by their mean length
            if s.kind != "none" and s.mean_payload_bits is not None and s.mean_payload_bits <= max_bits]
    if not fits:
        sized = sorted((s.mean_payload_bits, s.name) for s in schemes if s.mean_payload_bits)
        smallest = f"; the smallest is {sized[0][1]} ({sized[0][0]} bits)" if sized else ""
        raise ValueError(f"no feedback scheme fits a budget of {max_bits} bits{smallest}.")
    return [s for s in schemes if s.kind == "none" or s in fits]


def compare_learned(rows, ts: str) -> list[dict]:
    """Each learned scheme against the eType II configuration with the nearest payload (its
    budget for a scheme whose reports are held to one, else its mean report length)."""
    books = [r for r in rows if r["scheme"].startswith("etype2-")]
    out = []
    for r in rows:
        if r["kind"] != "digital" or r["scheme"].startswith(("etype2-", "type1-")) or not books:
            continue
        b = min(books, key=lambda c: abs(c["payload_bits"] - (r.get("budget_bits") or r["payload_bits"])))
        mu = lambda x: x["snr"][ts]["mu_rzf"]["throughput_mbps"]  # noqa: E731
        out.append({"learned": r["scheme"] + (" [OOD]" if r["out_of_distribution"] else ""),
                    "out_of_distribution": r["out_of_distribution"], "learned_bits": r["payload_bits"],
                    **({"learned_budget_bits": r["budget_bits"]} if r.get("budget_bits") else {}), "codebook": b["scheme"],
                    "codebook_bits": b["payload_bits"], "learned_sgcs": r["sgcs"], "codebook_sgcs": b["sgcs"],
                    "learned_mu_mbps": mu(r), "codebook_mu_mbps": mu(b),
                    "beats_in_sgcs_and_mu": r["sgcs"] > b["sgcs"] and mu(r) > mu(b)})
    return out


def _pct(row, key) -> str:
    """Throughput in % of perfect CSI, '-' without a perfect-CSI row."""
    v = row["percent_of_perfect"][key]
    return "-" if v is None else f"{v:.1f}"


def _bits(v) -> str:
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"


def _family(row) -> str:
    """Curve label of a row in the payload plot."""
    name = row["scheme"]
    if name.startswith("type1"):
        return "3GPP Type I"
    if name.startswith("etype2"):
        return "3GPP eType II"
    parts = name.split("-")
    kind = parts[0] + (" + UL SI" if "si" in parts else "")
    return f"learned: {kind}" + (" (OOD)" if row.get("out_of_distribution") else "")


def plot(rows, snr_dbs, table_snr, out_prefix: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    plt.rcParams["axes.prop_cycle"] = plt.cycler(color=plt.cm.tab20.colors)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    for r in rows:
        for ax, key in zip(axes, ("su_mrt", "mu_rzf"), strict=True):
            if key in r["snr"][str(snr_dbs[0])]:
                ax.plot(snr_dbs, [r["snr"][str(s)][key]["throughput_mbps"] for s in snr_dbs], marker="o",
                        label=r["scheme"])
    for ax, title in zip(axes, ("single-user MRT", "multi-user RZF"), strict=True):
        ax.set(xlabel="DL SNR per UE [dB]", ylabel="throughput [Mbit/s]", title=title)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    p = f"{out_prefix}_tput_vs_snr.png"
    fig.savefig(p, dpi=120)
    paths.append(p)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    families = {}  # one curve per family: the codebooks, and each learned model kind
    for r in rows:
        if r["payload_bits"]:
            families.setdefault(_family(r), []).append(r)
    for ax, key, title in zip(axes, ("su_mrt", "mu_rzf"), ("single-user MRT", "multi-user RZF"), strict=True):
        for i, (fam, rs) in enumerate(families.items()):
            pts = sorted((r["payload_bits"], r["snr"][str(table_snr)][key]["throughput_mbps"]) for r in rs
                         if key in r["snr"][str(table_snr)])
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="os^vDx"[i % 6], label=fam,
                    ls="-" if "learned" not in fam else "--")
        perfect = [r for r in rows if r["scheme"] == "perfect"]
        if perfect:
            ax.axhline(perfect[0]["snr"][str(table_snr)][key]["throughput_mbps"], ls=":", lw=0.8, color="gray")
        ax.set(xlabel="payload [bits] (variable-length reports: mean)", ylabel="throughput [Mbit/s]",
               title=f"{title}, DL SNR {table_snr} dB (dotted: perfect CSI)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    p = f"{out_prefix}_tput_vs_bits.png"
    fig.savefig(p, dpi=120)
    paths.append(p)
    return paths


def ul_sweep(schemes, data, scenario, cfg, ul_snrs, table_snr: float) -> list[dict]:
    """Analog schemes vs digital ones at equal uplink REs over a range of UL SNRs.

    Each analog scheme sends k symbols (k REs); each fixed-payload digital scheme is sent over
    the coded uplink in the same k REs (:meth:`CodedUplink.for_res`: CRC-24A, 5G LDPC at the
    rate that fills them, the lowest QAM order with a rate <= 0.93). A lost report falls back to
    the UL CSI. Returns one entry per analog scheme with its rows per UL SNR.
    """
    import dataclasses

    from sionna_csifb.evaluation.uplink import CodedUplink

    ts = str(float(table_snr))
    out = []
    for a in (s for s in schemes if s.kind == "analog"):
        k = a.num_symbols
        digital = []
        for d in schemes:
            if d.kind != "digital" or d.nominal_payload_bits is None:
                continue
            try:
                digital.append((d, CodedUplink.for_res(d.nominal_payload_bits, k)))
            except ValueError:
                continue  # does not fit k REs
        entry = {"analog": a.name, "uplink_res": k, "digital": {
            d.name: {"payload_bits": d.nominal_payload_bits, "bits_per_symbol": u.num_bits_per_symbol,
                     "code_rate": u.code_rate} for d, u in digital}, "rows": []}
        print(f"\nUL SNR sweep, {k} uplink REs per report (DL SNR {table_snr} dB, MU-RZF Mbit/s):")
        for snr in ul_snrs:
            line = [f"UL {snr:+5.1f} dB:"]
            for s, u in [(a, None)] + digital:
                c = dataclasses.replace(cfg, snr_dbs=[float(table_snr)], ul_snr_db=float(snr), coded_link=False,
                                        uplink="coded" if u else cfg.uplink,
                                        ul_code_rate=u.code_rate if u else cfg.ul_code_rate,
                                        ul_bits_per_symbol=u.num_bits_per_symbol if u else cfg.ul_bits_per_symbol)
                r = evaluate_scheme(s, data, scenario, c)
                mu = r["snr"][ts]["mu_rzf"]["throughput_mbps"]
                entry["rows"].append({"ul_snr_db": snr, "scheme": s.name, "kind": s.kind,
                                      "uplink_res": r["uplink_res"], "reports_lost": r["reports_lost"],
                                      "nmse_db": r["nmse_db"], "sgcs": r["sgcs"], "mu_rzf_mbps": mu,
                                      "su_mrt_mbps": r["snr"][ts]["su_mrt"]["throughput_mbps"]})
                line.append(f"{s.name} SGCS {r['sgcs']:.3f} lost {r['reports_lost']:.2f} MU {mu:.1f}")
            print("  ".join(line), flush=True)
        out.append(entry)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="64 samples, 3 SNRs, no coded-link validation")
    ap.add_argument("--scenario", default="uma", choices=list_presets())
    ap.add_argument("--schemes", nargs="*", default=None, help=f"scheme ids (default: all of {list_schemes()})")
    ap.add_argument("--max-bits", type=int, default=None, help="only schemes whose payload fits this budget")
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--snr-db", type=float, nargs="*", default=[-10.0, -5.0, 0.0, 5.0, 10.0, 15.0])
    ap.add_argument("--table-snr-db", type=float, default=0.0, help="DL SNR of the printed table")
    ap.add_argument("--num-ues", type=int, default=4, help="co-scheduled UEs for MU-MIMO")
    ap.add_argument("--uplink", choices=["ideal", "coded"], default="ideal")
    ap.add_argument("--ul-snr-db", type=float, default=0.0, help="per-antenna UL SNR (coded uplink)")
    ap.add_argument("--coded-link", action="store_true", help="validate with the LDPC-coded downlink (slow)")
    ap.add_argument("--allow-ood", action="store_true",
                    help="evaluate learned schemes on a scenario they were not trained on (rows marked OOD)")
    ap.add_argument("--ul-sweep", type=float, nargs="*", default=None, metavar="DB",
                    help="also sweep the UL SNR: each analog (JSCC) scheme against the digital schemes sent over "
                         "the coded uplink in the same number of REs (code rate and QAM order chosen to fit)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="write the rows (and the scenario) here")
    args = ap.parse_args(argv)
    if args.quick:
        args.samples, args.snr_db = 64, [-10.0, 0.0, 10.0]
    snrs = sorted(set(args.snr_db) | {args.table_snr_db})
    try:
        schemes = select_schemes(args.schemes, args.max_bits, get_scenario(args.scenario).num_bs_ant)
        cfg = ChainConfig(snr_dbs=snrs, num_ues=args.num_ues, uplink=args.uplink, ul_snr_db=args.ul_snr_db,
                          coded_link=args.coded_link and not args.quick, allow_out_of_distribution=args.allow_ood)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scenario = get_scenario(args.scenario)
    ood = [s for s in schemes if not s.trained_for(scenario)]
    if ood and not args.allow_ood:
        names = ", ".join(f"{s.name} (trained on {', '.join(s.trained_scenarios)})" for s in ood)
        if args.schemes:  # named by the user: refuse
            print(f"error: not trained for scenario {scenario.name}: {names}; pass --allow-ood to evaluate "
                  "them anyway (rows marked OOD)", file=sys.stderr)
            return 2
        print(f"skipped, not trained for scenario {scenario.name} (--allow-ood includes them, marked OOD): {names}")
        schemes = [s for s in schemes if s not in ood]
    sionna_csifb.config.seed = args.seed
    t0 = time.time()
    data = draw_samples(scenario, args.samples, args.seed)
    print(f"{args.samples} samples of {scenario.name} on {sionna_csifb.config.device} [{time.time() - t0:.1f} s]")
    rows = []
    for s in schemes:
        t1 = time.time()
        rows.append(evaluate_scheme(s, data, scenario, cfg))
        print(f"  {s.name:22s} done [{time.time() - t1:.1f} s]", flush=True)

    # ---- the table -----------------------------------------------------------------
    ts = str(float(args.table_snr_db))
    ref = next((r for r in rows if r["scheme"] == "perfect"), None)
    print(f"\nDL SNR {args.table_snr_db} dB per UE, {args.num_ues} UEs for MU (RZF); throughput via PHY abstraction")
    w = max([28] + [len(r["scheme"]) + (6 if r["out_of_distribution"] else 0) for r in rows])
    hdr = (f"{'scheme':{w}s} {'bits':>6s} {'UL REs':>6s} {'NMSE dB':>8s} {'SGCS':>6s} {'BF dB':>6s} "
           f"{'SU Mb/s':>8s} {'MU Mb/s':>8s} {'SU %':>6s} {'MU %':>6s}")
    print(hdr + "\n" + "-" * len(hdr))
    md = ["| scheme | bits | UL REs | NMSE (dB) | SGCS | BF gain (dB) | SU Mbit/s | MU Mbit/s | SU % | MU % |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        su, mu = r["snr"][ts]["su_mrt"]["throughput_mbps"], r["snr"][ts]["mu_rzf"]["throughput_mbps"]
        pct = lambda v, k: 100 * v / ref["snr"][ts][k]["throughput_mbps"] if ref else None  # noqa: E731
        r["percent_of_perfect"] = {"su_mrt": pct(su, "su_mrt"), "mu_rzf": pct(mu, "mu_rzf")}
        var = "~" if r.get("variable_length") else ""  # variable-length reports: the means
        bits = "-" if r["payload_bits"] is None else f"{var}{r['payload_bits']:.0f}"
        res = "-" if r["uplink_res"] is None else f"{var}{r['uplink_res']:.0f}"
        label = r["scheme"] + (" [OOD]" if r["out_of_distribution"] else "")
        print(f"{label:{w}s} {bits:>6s} {res:>6s} {r['nmse_db']:8.2f} {r['sgcs']:6.3f} {r['bf_gain_db']:6.2f} "
              f"{su:8.1f} {mu:8.1f} {_pct(r, 'su_mrt'):>6s} {_pct(r, 'mu_rzf'):>6s}")
        nm = "-" if not math.isfinite(r["nmse_db"]) else f"{r['nmse_db']:.2f}"
        name_md = f"`{r['scheme']}`" + (" (out of distribution)" if r["out_of_distribution"] else "")
        md.append(f"| {name_md} | {bits} | {res} | {nm} | {r['sgcs']:.3f} | {r['bf_gain_db']:.2f} | {su:.1f} | "
                  f"{mu:.1f} | {_pct(r, 'su_mrt')} | {_pct(r, 'mu_rzf')} |")
    if len(snrs) > 1:  # throughput at every DL SNR
        md += ["", "Throughput at every DL SNR (Mbit/s, SU-MRT / MU-RZF):", "",
               "| scheme | bits | " + " | ".join(f"{float(s):g} dB" for s in snrs) + " |",
               "|---|---|" + "---|" * len(snrs)]
        for r in rows:
            var = "~" if r.get("variable_length") else ""
            bits = "-" if r["payload_bits"] is None else f"{var}{r['payload_bits']:.0f}"
            cells = [f"{r['snr'][str(float(s))]['su_mrt']['throughput_mbps']:.1f} / "
                     f"{r['snr'][str(float(s))]['mu_rzf']['throughput_mbps']:.1f}" for s in snrs]
            md.append(f"| `{r['scheme']}`{' (OOD)' if r['out_of_distribution'] else ''} | {bits} | "
                      + " | ".join(cells) + " |")
    for r in rows:
        if r.get("variable_length"):
            print(f"~ {r['scheme']}: variable-length reports, mean {r['payload_bits']:.1f} bits (95th percentile "
                  f"{r['payload_bits_p95']:.0f}, max {r['payload_bits_max']}), coded-uplink REs mean "
                  f"{r['uplink_res']:.0f} (95th percentile {r['uplink_res_p95']:.0f})")
    coded = [(r["scheme"], s, r["snr"][s]["su_mrt_coded"])
             for r in rows for s in r["snr"] if "su_mrt_coded" in r["snr"][s]]
    if coded:
        print("\nPHY abstraction vs coded link (SU-MRT, same samples, best MCS of each):")
        md += ["", "PHY abstraction vs the LDPC-coded link (SU-MRT, same samples, best MCS of each):", "",
               "| scheme | DL SNR (dB) | abstraction Mbit/s | coded link Mbit/s (MCS, BLER) | rate bound Mbit/s |",
               "|---|---|---|---|---|"]
        for name, snr, c in coded:
            line = (f"| `{name}` | {snr} | {c['abstraction_same_samples_mbps']:.1f} | {c['throughput_mbps']:.1f} "
                    f"({c['mcs']}, {c['bler']:.2f}) | {c['rate_bound_mbps']:.1f} |")
            print(line)
            md.append(line)
    print("NMSE and SGCS against the future DL CSI Z; codebooks carry no gain, so their NMSE is not meaningful.")
    if scenario.name == "paper-cdl-c":
        caveat = ("Caveat: paper-cdl-c is the reproduction preset of Kim et al.; its UL and DL share the ray phases, "
                  "so the UL CSI nearly determines the future DL CSI and learned schemes with UL side information "
                  "look far better than on realistic channels (try --scenario realistic-cdl-c or uma).")
        print(caveat)
        md += ["", caveat]
    comparisons = compare_learned(rows, ts)
    for c in comparisons:
        held = f", at most {c['learned_budget_bits']}" if c.get("learned_budget_bits") else ""
        line = (f"{c['learned']} ({_bits(c['learned_bits'])} b{held}) vs {c['codebook']} ({_bits(c['codebook_bits'])} b): "
                f"SGCS {c['learned_sgcs']:.3f} vs {c['codebook_sgcs']:.3f}, MU {c['learned_mu_mbps']:.1f} vs "
                f"{c['codebook_mu_mbps']:.1f} Mbit/s -> {'beats' if c['beats_in_sgcs_and_mu'] else 'does NOT beat'} it")
        print(line)
        md.append("")
        md.append(f"Learned vs codebook at the nearest payload: {line}.")
    sweep = ul_sweep(schemes, data, scenario, cfg, args.ul_sweep, float(args.table_snr_db)) if args.ul_sweep else None
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        out = {"scenario": scenario.to_dict(), "num_samples": args.samples, "seed": args.seed,
               "chain": vars(cfg), "table_snr_db": args.table_snr_db, "throughput_path": "phy-abstraction",
               "environment": {"device": sionna_csifb.config.device, "version": sionna_csifb.__version__},
               "rows": rows, "learned_vs_codebook": comparisons}
        if sweep is not None:
            out["ul_snr_sweep"] = sweep
        args.json.write_text(json.dumps(_finite(out), indent=2))
        header = (f"{args.samples} samples of `{scenario.name}`, seed {args.seed}, "
                  f"DL SNR {args.table_snr_db} dB per UE, {args.num_ues} UEs for MU (RZF), {args.uplink} uplink; "
                  "throughput from the PHY abstraction.\n\n")
        args.json.with_suffix(".md").write_text(header + "\n".join(md) + "\n")
        figs = plot(rows, snrs, float(args.table_snr_db), args.json.with_suffix(""))
        print(f"wrote {args.json} and {', '.join(figs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
