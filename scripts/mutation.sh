#!/usr/bin/env bash
# Mutation testing: do the algorithms' unit tests notice when their code is broken?
# Each group below is mutated on its own (mutmut, pinned) in a scratch copy of the tree, and only its
# unit tests run against each mutant, so a kill rate says what those tests guard. Minutes per group;
# not part of the default suite. Writes docs/bench/mutation.json (kill rate per module; a mutant that
# no test runs counts as not killed) and docs/bench/mutation_survivors.txt (every mutant not killed:
# killed by a new test or explained in docs/testing.md).
# Usage: ./scripts/mutation.sh [group ...]   (default: every group)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KVISION_VENV:-$ROOT/.venv}"
MUTMUT_VERSION=3.8.1
cd "$ROOT"
[[ -x "$VENV/bin/python" ]] || { echo "no $VENV: run ./scripts/setup.sh first" >&2; exit 1; }
"$VENV/bin/python" -m pip install --quiet "mutmut==$MUTMUT_VERSION" 2> >(grep -v "^WARNING: Location" >&2)
export PATH="$VENV/bin:$PATH" AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"

# group | files mutated | functions scored (empty: all) | the unit tests that should notice them
# (seconds each: no ROS graph, no training)
TARGETS=(
  "core|kvision_driving/core/*||test/test_core.py test/test_metrics.py test/test_label_spaces.py test/test_allocator.py test/test_painting.py test/test_stamps.py test/test_stats.py test/test_frames.py test/test_camera.py test/test_labels.py test/test_vehicle.py test/test_image_fit.py test/test_sync.py test/test_geometry.py test/test_polyline.py test/test_boxes.py test/test_cpu.py"
  "tracking|kvision_driving/perception/tracking.py||test/test_tracking.py"
  "painting|kvision_driving/perception/painting.py||test/test_painting.py"
  "planning|kvision_driving/planning/profiles.py kvision_driving/planning/occupancy.py||test/test_planning.py test/test_occupancy.py test/test_profiles.py"
  "metrics|kvision_driving/eval/fusion.py kvision_driving/perception/prediction.py kvision_driving/nets/train_segmentation.py|_match summarise displacement_errors confusion_matrix iou_from_confusion scores|test/test_metrics.py test/test_train_segmentation.py::test_confusion_and_iou_by_hand test/test_train_segmentation.py::test_scores_average_the_classes_present_in_the_truth_by_hand"
)
WANTED=("$@")

SCRATCH="$(mktemp -d)"
trap '[[ -n "${KEEP_SCRATCH:-}" ]] || rm -rf "$SCRATCH"' EXIT
: > "$SCRATCH/groups"
for group in "${TARGETS[@]}"; do
  IFS="|" read -r name files functions tests <<< "$group"
  [[ ${#WANTED[@]} -eq 0 || " ${WANTED[*]} " == *" $name "* ]] || continue
  work="$SCRATCH/$name"
  mkdir -p "$work"
  git ls-files -co --exclude-standard -z -- kvision_driving test config setup.py setup.cfg pyproject.toml \
    | tar --null -T - -cf - | tar -xf - -C "$work"
  # mutmut runs the tests from $work/mutants: the shared data the tests read is found from there
  [[ -d "$ROOT/../shared" ]] && ln -s "$(cd "$ROOT/../shared" && pwd)" "$work/shared"
  {
    echo "[mutmut]"
    echo "source_paths = kvision_driving"
    echo "only_mutate ="
    for file in $files; do echo "    $file"; done
    echo "pytest_add_cli_args_test_selection ="
    for test in $tests; do echo "    $test"; done
    printf 'pytest_add_cli_args =\n    -x\n    -q\n    -p\n    no:cacheprovider\n'  # one argument a line
  } >> "$work/setup.cfg"
  echo "== $name: $files ($(date +%T))"
  started=$(date +%s)
  (cd "$work" && mutmut run --max-children "$(nproc)" > mutmut.log 2>&1) || { tail -20 "$work/mutmut.log"; exit 1; }
  (cd "$work" && mutmut results --all true 2> /dev/null) > "$SCRATCH/$name.results"
  echo "$name|$functions|$(($(date +%s) - started))" >> "$SCRATCH/groups"
done

python - "$SCRATCH" "$ROOT/docs/bench" "$MUTMUT_VERSION" <<'PYEOF'
"""Kill rate per module from mutmut's per-mutant results."""
import json
import re
import sys
from collections import Counter
from pathlib import Path

from kvision_driving.bench.machine import machine_info

scratch, out, version = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
modules, survivors = [], []
for line in (scratch / "groups").read_text().splitlines():
    name, functions, seconds = line.split("|")
    wanted = set(functions.split())
    by_module: dict[str, Counter] = {}
    for row in (scratch / f"{name}.results").read_text().splitlines():
        mutant, _, status = row.strip().rpartition(": ")
        # package.module.x_function__mutmut_3; a method: package.module.xǁClassǁmethod__mutmut_1
        module, _, function = re.sub(r"__mutmut_\d+$", "", mutant).partition(".x")
        function = (function[1:] if function.startswith("_") else function).split("ǁ")[-1]
        if wanted and function not in wanted:
            continue
        by_module.setdefault(module, Counter())[status] += 1
        if status != "killed":
            survivors.append(f"{mutant}: {status}")
    for module, counts in sorted(by_module.items()):
        scored = sum(counts.values()) - counts["skipped"]
        rate = round(counts["killed"] / scored, 4) if scored else None
        modules.append({
            "group": name, "module": module, "functions": sorted(wanted) or "all", "mutants": scored,
            "killed": counts["killed"], "survived": counts["survived"], "not_run_by_any_test": counts["no tests"],
            "timeout": counts["timeout"], "kill_rate": rate, "group_seconds": int(seconds),
        })
        print(f"{module:48s} {counts['killed']:4d} of {scored:<4d} killed ({rate})")
# groups not run this time keep their last results (with the machine they were measured on)
runs = [{"groups": sorted({m["group"] for m in modules}), "machine": machine_info()}]
report_path, survivors_path = out / "mutation.json", out / "mutation_survivors.txt"
if report_path.exists():
    earlier = json.loads(report_path.read_text())
    kept = [m for m in earlier.get("modules", []) if m["group"] not in runs[0]["groups"]]
    modules = kept + modules
    runs += [r for r in earlier.get("runs", []) if set(r["groups"]) - set(runs[0]["groups"])]
    kept_modules = {m["module"] for m in kept}
    survivors = [line for line in survivors_path.read_text().splitlines() if line.split(".x")[0] in kept_modules] + survivors
report = {"tool": f"mutmut {version}", "runs": runs, "modules": modules}
report_path.write_text(json.dumps(report, indent=2) + "\n")
survivors_path.write_text("\n".join(survivors) + "\n")
PYEOF
echo "kill rates: docs/bench/mutation.json; survivors: docs/bench/mutation_survivors.txt"
