"""Figures, their statistics, the printed table and the JSON file of `make bench`.

A figure holds PayLab's value from each run and the floor's, measured in the same runs. The
table shows the median of the runs with the range (min–max), the floor beside it, their
ratio and the issue's target. A figure that could not be measured says why instead.
"""
import json
import math
import statistics


def percentile(values, fraction):
    """The `fraction` quantile of `values` by linear interpolation (p50 = the median); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def spread(values):
    """{median, min, max, runs, values} of one side's per-run values (None values are left out)."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values),
            "values": values}


class Figure:
    """One row: PayLab's and the floor's per-run values, the unit, and the target it is held to.

    `target` is (text, check): check(paylab_median, floor_median) → True/False, or None when
    the target cannot be judged from this figure alone.
    """

    def __init__(self, key, label, unit, target=("", None), better="lower", note="", ratio=True):
        self.key, self.label, self.unit, self.better, self.note = key, label, unit, better, note
        self.show_ratio = ratio  # off where the floor's value is about zero, so a ratio means nothing
        self.target_text, self._check = target
        self.paylab, self.floor = [], []
        self.why_not = None  # set when the figure could not be measured

    def add(self, paylab=None, floor=None):
        if paylab is not None:
            self.paylab.append(paylab)
        if floor is not None:
            self.floor.append(floor)

    def hold_to(self, text, check):
        """Set the target once it is known (some depend on another figure, e.g. the PIN-check ceiling)."""
        self.target_text, self._check = text, check

    def not_measured(self, why):
        self.why_not = why

    def result(self):
        paylab, floor = spread(self.paylab), spread(self.floor)
        ratio = None
        if self.show_ratio and paylab and floor and floor["median"] > 0:
            ratio = paylab["median"] / floor["median"]
        met = None
        if paylab and self._check:
            met = self._check(paylab["median"], floor["median"] if floor else None)
        return {"key": self.key, "figure": self.label, "unit": self.unit, "paylab": paylab, "floor": floor,
                "ratio": ratio, "target": self.target_text, "target_met": met, "better": self.better,
                "note": self.note, "not_measured": self.why_not if not paylab else None}


def _number(value, unit=""):
    """Three significant digits at most, never fewer than the integer part."""
    if value is None:
        return "—"
    if float(value).is_integer() or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.2g}" if abs(value) >= 0.001 else f"{value:.1e}"


def _side(side, unit):
    if not side:
        return "—", ""
    text = _number(side["median"], unit)
    if side["runs"] > 1:
        return text, f"{_number(side['min'], unit)}–{_number(side['max'], unit)}"
    return text, ""


def render_table(results):
    """The table `make bench` prints: one row per figure, then the reasons for any not measured."""
    headers = ["Figure", "Unit", "PayLab", "(min–max)", "Floor", "(min–max)", "Ratio", "Target", "Met", "Runs"]
    rows, missing = [], []
    for r in results:
        paylab, paylab_range = _side(r["paylab"], r["unit"])
        floor, floor_range = _side(r["floor"], r["unit"])
        if r["not_measured"]:
            paylab = "n/a"
            missing.append(f"  {r['figure']}: {r['not_measured']}")
        met = {True: "yes", False: "NO", None: ""}[r["target_met"]]
        runs = str(r["paylab"]["runs"]) if r["paylab"] else "0"
        rows.append([r["figure"], r["unit"], paylab, paylab_range, floor, floor_range,
                     f"{_number(r['ratio'])}×" if r["ratio"] is not None else "—", r["target"], met, runs])
    widths = [max(len(str(row[i])) for row in rows + [headers]) for i in range(len(headers))]
    right = {2, 3, 4, 5, 6, 9}

    def line(cells):
        return "  ".join(str(cell).rjust(width) if i in right else str(cell).ljust(width)
                         for i, (cell, width) in enumerate(zip(cells, widths)))
    out = [line(headers), line(["-" * w for w in widths])] + [line(row) for row in rows]
    notes = {}
    for r in results:  # one line per distinct note (the P1 rows share theirs)
        if r["note"] and r["note"] not in notes:
            notes[r["note"]] = r["figure"]
    if notes:
        out += ["", "Notes:"] + [f"  {figure}: {note}" for note, figure in notes.items()]
    if missing:
        out += ["", "Not measured:"] + missing
    return "\n".join(out)


def write_json(path, document):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path
