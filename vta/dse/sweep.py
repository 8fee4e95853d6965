"""Exploring a space: every point (exhaustive) or a multi-objective search (optuna's NSGA-II),
each point evaluated on every model, through the store (finished evaluations are reused) and
the engine (evaluations run on Dask).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from vta.compiler.compile_cache import compiler_digest
from vta.dse import evaluate
from vta.dse.engine import Engine
from vta.dse.layers import cost_key
from vta.dse.models import ModelSpec
from vta.dse.space import Space
from vta.dse.store import Store
from vta.fpga.boards import BOARDS
from vta.isa import Config, ConfigError

#: The objectives, and whether each is minimized.
OBJECTIVES = {"latency_ms": True, "energy_uj": True, "utilization": True, "accuracy": False}


@dataclass
class PointResult:
    """One point's evaluations: resources per board, each model's results and accuracy."""

    point: dict
    config: Config
    resources: dict
    models: dict = field(default_factory=dict)
    accuracy: dict = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return self.config.fingerprint

    @property
    def errors(self) -> list[str]:
        return [f"{name}: {result['error']}" for name, result in
                (*self.models.items(), *self.accuracy.items()) if "error" in result]

    def objectives(self, board: str) -> dict[str, float]:
        """Latency and energy (geometric means over the models), the highest resource
        utilization on `board`, the mean accuracy of the models that have one (0 if none)."""
        family = BOARDS[board].yosys_family
        models = list(self.models.values())
        measured = [a["accuracy"] for a in self.accuracy.values() if a["accuracy"] is not None]
        return {
            "latency_ms": _geomean([m["latency_ms"] for m in models]),
            "energy_uj": _geomean([m["energy_uj"][family]["total"] for m in models]),
            "utilization": self.resources[board]["utilization"],
            "accuracy": sum(measured) / len(measured) if measured else 0.0,
        }

    def to_json(self, board: str) -> dict:
        return {"fingerprint": self.fingerprint, "point": self.point,
                "config": self.config.config_string, "objectives": self.objectives(board),
                "resources": self.resources, "models": self.models, "accuracy": self.accuracy}


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(max(v, 1e-12)) for v in values) / len(values))


def model_key(config: Config, spec: ModelSpec, fidelity: str) -> str:
    """A model's evaluation on `config`: also keyed by the compiler that produced it, so that a
    store kept across an upgrade of pyvta evaluates again rather than report stale cycles."""
    return (f"model:{evaluate.cycle_fingerprint(config)}:{spec.key}:{fidelity}"
            f":{compiler_digest()[:16]}")


def accuracy_key(spec: ModelSpec, config: Config) -> str:
    return (f"accuracy:{spec.key}:{config.inp_width}x{config.wgt_width}"
            f":{compiler_digest()[:16]}")


class Explorer:
    """Evaluates points of `space` on `specs` at `fidelity`, through `store` and `engine`;
    `progress(done, total)` after every finished evaluation. Resources are estimated on the
    space's boards and on `board` (the front's, which may be another)."""

    def __init__(self, space: Space, specs: list[ModelSpec], fidelity: str, store: Store,
                 engine: Engine, progress: Callable[[int, int], None] | None = None, *,
                 board: str | None = None):
        self.space, self.specs, self.fidelity = space, specs, fidelity
        self.store, self.engine, self.progress = store, engine, progress
        self.boards = tuple(dict.fromkeys((*space.boards, *([board] if board else []))))
        self.evaluated = 0   # evaluations run (not found in the store)

    def evaluate(self, points: list[tuple[dict, Config]]) -> list[PointResult]:
        """Every point's results: from the store, or evaluated on the engine (and stored).
        A model's configs that differ only in buffer sizes and clock go to one task, which
        shares their layers' work (`vta.dse.layers`)."""
        tasks, kinds, groups = {}, {}, {}
        done = self.store.keys()
        for _, config in points:
            self.store.put_config(config.fingerprint, config.to_dict())
            cycle_config = config.replace(CLOCK_MHZ=100.0)
            self.store.put_config(cycle_config.fingerprint, cycle_config.to_dict())
            for spec in self.specs:
                key = model_key(config, spec, self.fidelity)
                if key not in done and key not in kinds:
                    group = groups.setdefault((spec.key, cost_key(config)), (spec, {}))
                    group[1][key] = cycle_config
                    kinds[key] = ("model", cycle_config.fingerprint, spec.name)
                key = accuracy_key(spec, config)
                if key not in done and key not in kinds:
                    tasks[key] = (evaluate.model_accuracy, (spec, config.inp_width,
                                                            config.wgt_width))
                    kinds[key] = ("accuracy", None, spec.name)
        members, compiles = {}, {}
        # the compiles first, the biggest groups first: they are the long tasks
        ordered = sorted(groups.values(), key=lambda group: -len(group[1]))
        for index, (spec, configs) in enumerate(ordered):
            name = f"models:{spec.key}:{index}"
            compiles[name] = (evaluate.models_on_configs,
                              ([c.to_dict() for c in configs.values()], spec, self.fidelity))
            members[name] = list(configs)
        tasks = compiles | tasks
        for finished, (name, result) in enumerate(self.engine.run(tasks), 1):
            for key, one in zip(members.get(name, [name]), result if name in members
                                else [result]):
                kind, fingerprint, model = kinds[key]
                self.store.put(key, kind, one, one.get("seconds", 0.0), config=fingerprint,
                               model=model)
                self.evaluated += 1
            if self.progress:
                self.progress(finished, len(tasks))
        return [self._result(point, config) for point, config in points]

    def _result(self, point: dict, config: Config) -> PointResult:
        result = PointResult(point, config, evaluate.resources(config, self.boards))
        for spec in self.specs:
            result.models[spec.name] = evaluate.on_clock(
                self.store.get(model_key(config, spec, self.fidelity)), config)
            result.accuracy[spec.name] = self.store.get(accuracy_key(spec, config))
        return result

    def nsga2(self, board: str) -> list[PointResult]:
        """optuna's NSGA-II over the space's parameters, `search.trials` points in
        generations of `search.population`; points that cannot be built or break a
        constraint are failed trials."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        search = self.space.search
        sampler = optuna.samplers.NSGAIISampler(population_size=search.population,
                                                seed=search.seed)
        study = optuna.create_study(
            directions=["minimize" if low else "maximize" for low in OBJECTIVES.values()],
            sampler=sampler)
        results, asked = {}, 0
        while asked < search.trials:
            generation = []
            for _ in range(min(search.population, search.trials - asked)):
                trial = study.ask()
                asked += 1
                point = {key: trial.suggest_categorical(key, values)
                         for key, values in self.space.parameters.items()}
                try:
                    config = self.space.config(point)
                except ConfigError:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    continue
                if self.space.admit(config) is not None:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    continue
                generation.append((trial, point, config))
            evaluated = self.evaluate([(point, config) for _, point, config in generation])
            for (trial, _, _), result in zip(generation, evaluated):
                if result.errors:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    continue
                study.tell(trial, list(result.objectives(board).values()))
                results[result.fingerprint] = result
        return list(results.values())


def pareto_front(results: list[PointResult], board: str) -> list[PointResult]:
    """The results that fit `board` (its resources and its memory port) and no other such
    result dominates on the objectives (on `board`), by latency."""
    usable = [r for r in results if not r.errors and r.resources[board]["fits"]]
    signed = [[value if OBJECTIVES[name] else -value
               for name, value in r.objectives(board).items()] for r in usable]

    def dominated(i: int) -> bool:
        return any(all(a <= b for a, b in zip(other, signed[i])) and other != signed[i]
                   for other in signed)

    front = [r for i, r in enumerate(usable) if not dominated(i)]
    unique = {r.fingerprint: r for r in front}
    return sorted(unique.values(), key=lambda r: r.objectives(board)["latency_ms"])
