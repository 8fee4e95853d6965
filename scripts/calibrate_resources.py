#!/usr/bin/env python3
"""Calibrate the analytic resource model (vta.fpga.resource_model) against Yosys and report its
error on points left out of the fit.

    .venv/bin/python scripts/calibrate_resources.py                  # refit, print the errors
    .venv/bin/python scripts/calibrate_resources.py --add RUNS.jsonl  # add held-out Yosys runs
    .venv/bin/python scripts/calibrate_resources.py --add-store DIR/results.sqlite
    .venv/bin/python scripts/calibrate_resources.py --synthesize CONFIG.json --family xc7

Runs (``{"family", "config", "used", "role"}``: a config's Yosys counts) live in
fpga/calibration.json beside the fitted coefficients. Only runs of role "calibration" fit the
coefficients; every other run is "held out", and the error printed for those is the model's
error on points it was not calibrated on. New runs are held out (``--calibrate`` makes them
calibration runs): Yosys runs of `vta dse --verify` (``--add-store``), JSON lines of runs
(``--add``), or configs synthesized here on Dask (``--synthesize``).

A family named in the file's ``references`` (``{"xcup": "xc7"}``) is fitted as its reference
family's model times one factor per resource (`vta.fpga.resource_model.fit`), so a few Yosys
runs of it suffice.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def errors(model, runs: list[dict]) -> list[dict]:
    from vta.fpga.boards import RESOURCES
    from vta.isa import Config
    table = []
    for run in runs:
        config = Config(**run["config"])
        estimate = model.estimate(config)
        table.append({"config": config.config_string, "bus": config.bus_bits,
                      "alu_mul": config.ALU_MUL,
                      "overlap_kernels": config.machine.overlap_kernels,
                      **{name: (run["used"][name], estimate[name],
                                (estimate[name] - run["used"][name]) / max(run["used"][name], 1))
                         for name in RESOURCES}})
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--add", type=Path, action="append", default=[], metavar="RUNS.jsonl",
                        help="add Yosys runs (JSON lines with family, config and used or cells)")
    parser.add_argument("--add-store", type=Path, action="append", default=[],
                        metavar="SQLITE", help="add the Yosys runs of a `vta dse` store")
    parser.add_argument("--calibrate", action="store_true",
                        help="the runs added are calibration runs (default: held out)")
    parser.add_argument("--synthesize", type=Path, action="append", default=[],
                        metavar="CONFIG.json", help="synthesize this config and add the run")
    parser.add_argument("--family", choices=("xc7", "xcup"), default="xc7")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    from vta.fpga.boards import RESOURCES
    from vta.fpga.resource_model import CALIBRATION_FILE, ResourceModel, fit
    from vta.fpga.synth import count_resources
    from vta.isa import Config

    data = json.loads(CALIBRATION_FILE.read_text()) if CALIBRATION_FILE.exists() else \
        {"runs": [], "models": {}}
    known = {(run["family"], Config(**run["config"]).fingerprint) for run in data["runs"]}

    def add(run: dict) -> None:
        used = run.get("used") or count_resources(run["cells"])
        key = (run["family"], Config(**run["config"]).fingerprint)
        if key not in known:
            known.add(key)
            data["runs"].append({"family": run["family"], "config": run["config"], "used": used,
                                 "seconds": run.get("seconds"),
                                 "role": "calibration" if args.calibrate else "held out"})

    for path in args.add:
        for line in path.read_text().splitlines():
            if line.strip():
                add(json.loads(line))
    for path in args.add_store:
        from vta.dse.store import Store
        with Store(path) as store:
            rows = store.connection.execute(
                "select r.key, r.result, c.config from results r join configs c "
                "on c.fingerprint = r.config where r.kind = 'synth'").fetchall()
        for key, result, config in rows:
            add({"family": key.rsplit(":", 1)[1], "config": json.loads(config),
                 **json.loads(result)})
    if args.synthesize:
        from vta.dse.engine import Engine
        from vta.dse.evaluate import synthesize
        tasks = {path.stem: (synthesize, (Config.from_file(path).to_dict(), args.family))
                 for path in args.synthesize}
        with Engine(workers=args.workers) as engine:
            for name, result in engine.run(tasks):
                config = Config.from_file(next(p for p in args.synthesize if p.stem == name))
                add({"family": args.family, "config": config.to_dict(), **result})
                print(f"{name}: {result['used']} ({result['seconds']:.0f} s)", flush=True)

    report = {}
    references = data.setdefault("references", {})
    families = sorted({run["family"] for run in data["runs"]},
                      key=lambda family: (family in references, family))
    models = {}
    for family in families:
        runs = [run for run in data["runs"] if run["family"] == family]
        calibration = [run for run in runs if run["role"] == "calibration"]
        held_out = [run for run in runs if run["role"] != "calibration"]
        reference = models.get(references.get(family))
        if not calibration and reference is None:
            print(f"\n{family}: no calibration runs, left as it was")
            continue
        model = fit(family, calibration, reference=reference) if calibration else \
            ResourceModel(family, reference.coefficients)      # no runs of its own yet
        models[family] = model
        data["models"][family] = model.coefficients
        report[family] = {"calibration": len(calibration), "held_out": len(held_out),
                          "errors": errors(model, held_out)}
        print(f"\n{family}: fitted on {len(calibration)} Yosys runs, {len(held_out)} held out")
        print(f"{'config':<28} {'bus':>4} {'ovl':>3} " + " ".join(f"{name + ' yosys/model/err':>26}"
                                                     for name in RESOURCES))
        for row in report[family]["errors"]:
            cells = " ".join(f"{row[name][0]:>9,.1f} {row[name][1]:>9,.1f} {row[name][2]:>+6.1%}"
                             for name in RESOURCES)
            print(f"{row['config']:<28} {row['bus']:>4} {row['overlap_kernels']:>3} {cells}")
        for name in RESOURCES:
            worst = max((abs(row[name][2]) for row in report[family]["errors"]), default=0)
            print(f"  {name}: largest held-out error {worst:.1%}")
    CALIBRATION_FILE.write_text(json.dumps(data, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
