"""The issue's targets, checked against the measured numbers (no tuning: just reading)."""

from __future__ import annotations


def check_targets(table1: dict, spreads: dict, bandwidth: dict | None) -> dict:
    """Each target -> {"met": bool|None, "value": ...}; None when not measurable here."""
    m = {row: table1[row]["miou"] for row in table1}
    out: dict[str, dict] = {}

    def spread_of(row: str) -> float:
        return spreads.get(row, {}).get("miou", {}).get("spread", 0.0)

    margin_cs = m["cloudseg"] - m["sr"]
    margin_sr = m["sr"] - m["bilinear"]
    # "By more than the spread across training seeds": without runs of other seeds (--runs)
    # there is no spread to beat, and a positive margin alone does not show the target.
    seeds = min(spreads.get(r, {}).get("miou", {}).get("n", 0) for r in ("sr", "cloudseg"))
    met = (
        margin_cs > max(spread_of("cloudseg"), spread_of("sr"))
        and margin_sr > spread_of("sr")
        and margin_cs > 0
    )
    out["cloudseg_gt_sr_gt_bilinear"] = {
        "met": met if seeds >= 2 or margin_cs <= 0 or margin_sr <= 0 else None,
        "value": {
            "cloudseg_minus_sr": margin_cs,
            "sr_minus_bilinear": margin_sr,
            "spread_sr": spread_of("sr"),
            "spread_cloudseg": spread_of("cloudseg"),
            "training_seeds": seeds,
        },
    }
    out["cloudseg_within_0.03_of_hr"] = {
        "met": m["hr"] - m["cloudseg"] <= 0.03,
        "value": m["hr"] - m["cloudseg"],
    }
    gains = {
        c: (table1["cloudseg"]["per_class"].get(c, 0.0) - table1["bilinear"]["per_class"].get(c, 0.0))
        for c in table1["cloudseg"]["per_class"]
    }
    best = max(gains, key=gains.get) if gains else None
    out["person_gains_most"] = {"met": best == "person", "value": {"largest_gain": best, "gains": gains}}
    ps_cs, ps_sr = table1["cloudseg"].get("psnr"), table1["sr"].get("psnr")
    out["psnr_within_0.5db"] = {
        "met": abs(ps_sr - ps_cs) <= 0.5 if ps_cs and ps_sr else None,
        "value": (ps_cs or 0) - (ps_sr or 0),
    }
    out["scene_gap_hr_minus_bilinear_ge_0.05"] = {
        "met": m["hr"] - m["bilinear"] >= 0.05,
        "value": m["hr"] - m["bilinear"],
    }
    if bandwidth:
        r = bandwidth["miou_hr_minus_margin"]["ratios"]
        out["bandwidth_hr_over_cloudseg_ge_10"] = {
            "met": r.get("hr_over_cloudseg", 0) >= 10 if r else False,
            "value": r.get("hr_over_cloudseg"),
        }
        out["bandwidth_awstream_over_cloudseg_ge_4"] = {
            "met": r.get("awstream_over_cloudseg", 0) >= 4 if r else False,
            "value": r.get("awstream_over_cloudseg"),
        }
    return out
