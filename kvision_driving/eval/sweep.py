"""Closed-loop sweeps as data: the runs of a sweep, the JSONL file their results stream to (so a sweep
resumes where it stopped), and the summary per scenario (collision rate with a Wilson interval,
completion, minimum gap, hard braking, worst seeds). ROS-free: who runs the runs is not its business."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

# Deceleration counted as hard braking: 0.4 g, well past comfortable braking (about 0.2-0.3 g).
HARD_BRAKING_MPS2 = 4.0


@dataclass(frozen=True, order=True)
class SweepRun:
    scenario: str
    mode: str  # perception: "ground-truth" or "full"
    seed: int  # -1: the scenario's own

    @property
    def key(self) -> str:
        return f"{self.scenario}/{self.mode}/{self.seed}"

    def replay_command(self, duration_s: float = 0.0) -> str:
        """The command that runs this one alone."""
        duration = f" --duration {duration_s:g}" if duration_s else ""
        return (
            f"kvision eval closed-loop --scenario {self.scenario} --perception {self.mode} --seed {self.seed}{duration}"
        )


def plan(scenarios: list[str], modes: list[str], seeds: list[int]) -> list[SweepRun]:
    """Every (scenario, mode, seed), in a stable order."""
    return [SweepRun(scenario, mode, seed) for scenario in scenarios for mode in modes for seed in seeds]


class SweepStore:
    """Results as JSON lines, one per finished attempt series, appended as they arrive (a crash loses at most
    the line being written; a torn last line is ignored)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # the line a killed sweep was writing
        return records

    def finished(self) -> set[str]:
        """Keys of runs that ran to their end (collisions included); failed runs are tried again."""
        return {record["key"] for record in self.records() if "results" in record}

    def add(
        self, run: SweepRun, attempts: int, wall_s: float, results: dict | None, error: str = "", replay: str = ""
    ) -> dict:
        """Appends one run's outcome: its score, or (``results`` None) the error and the command replaying it."""
        record: dict = {"key": run.key, **asdict(run), "attempts": attempts, "wall_s": round(wall_s, 2)}
        record |= {"results": results} if results is not None else {"error": error, "replay": replay}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        return record


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % (by default) Wilson score interval of a proportion: sound at 0 of n, where the normal one is not."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def summarise(records: list[dict], worst: int = 3) -> dict[str, dict]:
    """Per ``scenario/mode``: runs, collision rate and its 95 % Wilson interval, mean completion, minimum gap,
    runs with hard braking, failures (runs that never finished), and the seeds with the smallest gaps."""
    latest: dict[str, dict] = {}
    for record in records:  # a run tried again after a failure: its last record counts
        if "results" in record or record["key"] not in latest or "results" not in latest[record["key"]]:
            latest[record["key"]] = record
    groups: dict[str, list[dict]] = defaultdict(list)
    for record in latest.values():
        groups[f"{record['scenario']}/{record['mode']}"].append(record)
    summary = {}
    for name, group in sorted(groups.items()):
        done = [record for record in group if "results" in record]
        results = [record["results"] for record in done]
        collided = sum(result["collisions"] > 0 for result in results)
        low, high = wilson_interval(collided, len(results))
        gaps = sorted((result["min_gap_m"], record["seed"]) for record, result in zip(done, results, strict=True)
                      if result["min_gap_m"] is not None)  # fmt: skip
        summary[name] = {
            "runs": len(results),
            "failed": sorted(record["seed"] for record in group if "results" not in record),
            "collision_rate": collided / len(results) if results else None,
            "collision_rate_95": [round(low, 4), round(high, 4)],
            "completion": round(sum(result["progress"] for result in results) / len(results), 4) if results else None,
            "min_gap_m": gaps[0][0] if gaps else None,
            "hard_braking_runs": sum(result["max_decel_mps2"] > HARD_BRAKING_MPS2 for result in results),
            "worst_seeds": [seed for _, seed in gaps[:worst]],
        }
    return summary


def summary_table(summary: dict[str, dict]) -> str:
    lines = [
        "| scenario / perception | runs | failed | collision rate (95 % CI) | completion | min gap (m) "
        f"| runs braking > {HARD_BRAKING_MPS2:g} m/s2 | worst seeds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in summary.items():
        rate = "-" if row["collision_rate"] is None else f"{row['collision_rate']:.3f}"
        low, high = row["collision_rate_95"]
        completion = "-" if row["completion"] is None else f"{row['completion']:.3f}"
        gap = "-" if row["min_gap_m"] is None else f"{row['min_gap_m']:.2f}"
        lines.append(
            f"| {name} | {row['runs']} | {len(row['failed'])} | {rate} ({low:.3f}-{high:.3f}) | {completion} | {gap} "
            f"| {row['hard_braking_runs']} | {', '.join(map(str, row['worst_seeds']))} |"
        )
    return "\n".join(lines) + "\n"
