"""Measure declared targets (:mod:`efa.report.target_spec`) on the result stores.

A target's value over several runs (models × training seeds) is the one *least favourable* to
it: the largest value for ``<`` and ``<=``, the smallest for ``>`` and ``>=``, the one farthest
from the bound for ``==``. A target on a family or on labels therefore holds for every run it
judges, not only on average; a ratio takes the least favourable pair of runs (the best local
run against the worst EFA run, say). A target on ``all`` models gives each model its own
verdict, on the least favourable of its seeds.

A verdict is one of: met; not met; not measured (no finite value: counts as not met); not met
because a judged run stopped on its time limit before its step budget (``truncated``: its value
would depend on the speed of the machine); or n/a, with the reason, where the model cannot take
the probe or check (it lacks a capability, :mod:`efa.runs.capabilities`). An n/a verdict
is not counted. Targets of probes that are not in the report are left out.

``targets met: K/N`` counts the verdicts of targets on families, labels, ratios and the suite;
the verdicts of targets on ``all`` models make up each model's score instead (targets met of
those judged), shown on the leaderboard.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from efa.report.target_spec import COMPARISONS, Selection, TargetSpec


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A target measured: its value (nan if not measured), whether it is met, the model of a
    per-model verdict, a detail, the reason it does not apply (n/a), the truncated runs it was
    judged on and the experiments whose models it judges."""

    spec: TargetSpec
    value: float
    met: bool
    model: str | None = None
    detail: str = ""
    reason: str = ""
    truncated: tuple[str, ...] = ()
    experiments: tuple[str, ...] = ()

    @property
    def applicable(self) -> bool:
        return not self.reason

    @property
    def status(self) -> str:
        """``met``, ``NOT met``, ``NOT MEASURED``, ``NOT met: truncated runs`` or ``n/a``."""
        if not self.applicable:
            return "n/a"
        if self.truncated:
            return "NOT met: truncated runs"
        if self.met:
            return "met"
        return "NOT MEASURED" if math.isnan(self.value) else "NOT met"

    def cell(self) -> str:
        """The verdict in a leaderboard cell: ``met 0.012``, ``NOT met 0.31``, ``n/a: reason``."""
        if not self.applicable:
            return f"n/a: {self.reason}"
        if math.isnan(self.value):
            return "not measured"
        return f"{'met' if self.met and not self.truncated else 'NOT met'} {self.value:.3g}"

    def line(self) -> str:
        """``[met] description (model, where): measured … (detail)``; ``(model, where)`` on a
        per-model verdict, where is the probe label or experiment of the target."""
        where = f", {self.spec.source}" if self.spec.source else ""
        who = f" ({self.model}{where})" if self.model is not None else ""
        if not self.applicable:
            return f"[n/a] {self.spec.description}{who}: {self.reason}"
        notes = [self.detail] if self.detail else []
        if self.truncated:
            notes.append(
                "judged on runs stopped by their time limit before their step budget: "
                + ", ".join(self.truncated)
            )
        detail = f" ({'; '.join(notes)})" if notes else ""
        return f"[{self.status}] {self.spec.description}{who}: measured {self.value:.3g}{detail}"


def targets_line(results: Sequence[bool]) -> str:
    """The closing line of every benchmark and of the report: ``targets met: K/N``."""
    return f"targets met: {sum(results)}/{len(results)}"


def counted(verdicts: Sequence[Verdict]) -> list[Verdict]:
    """The verdicts that ``targets met: K/N`` counts: applicable, not per model."""
    return [v for v in verdicts if v.applicable and not v.spec.per_model]


def least_favourable(values: np.ndarray, compare: str, bound: float) -> int:
    """Index of the value of ``values`` (finite, non-empty) least favourable to
    ``value <compare> bound``."""
    if compare in ("<", "<="):
        return int(np.argmax(values))
    if compare in (">", ">="):
        return int(np.argmin(values))
    return int(np.argmax(np.abs(values - bound)))


def _judge(spec: TargetSpec, value: float) -> bool:
    return math.isfinite(value) and COMPARISONS[spec.compare](value, spec.bound)


def _unit(units: str) -> str:
    return "" if units in ("", "1") else f" {units}"


@dataclasses.dataclass(frozen=True)
class _Runs:
    """The values one target reads: per model, its family, its per-seed values (nan where a
    seed has no run), its truncated seeds and the reason it cannot take the target (or "")."""

    families: dict[str, str]
    values: dict[str, np.ndarray]
    truncated: dict[str, tuple[int, ...]]
    reasons: dict[str, str]
    units: str
    experiments: tuple[str, ...]

    def selected(self, selection: Selection) -> list[str]:
        return [
            model
            for model, family in self.families.items()
            if selection.matches(model, family) and not self.reasons[model]
        ]

    def pool(self, models: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        """Finite values of ``models``' runs and the run names ``model/seed<k>`` that are
        truncated among them."""
        values = np.concatenate([self.values[m] for m in models]) if models else np.zeros(0)
        truncated = [f"{m}/seed{seed}" for m in models for seed in self.truncated[m]]
        return values[np.isfinite(values)], truncated


def _reason(store: xr.Dataset, model: str, metric: str) -> str:
    """Why ``model`` cannot take ``metric`` of the probe store (``""`` if it can)."""
    if "not_applicable" not in store or metric not in store["metric_name"].values:
        return ""
    return str(store["not_applicable"].isel(probe=0).sel(model=model, metric_name=metric).item())


def _truncated_seeds(runs: xr.Dataset, models: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """Per model, the seeds whose training stopped on its time limit (``truncated`` = 1) in a
    dataset with dims (model, seed)."""
    if "truncated" not in runs:
        return {model: () for model in models}
    flags = runs["truncated"]
    return {
        model: tuple(
            int(seed)
            for seed in runs["seed"].values
            if flags.sel(model=model, seed=seed).item() == 1
        )
        for model in models
    }


def _probe_runs(spec: TargetSpec, store: xr.Dataset) -> _Runs | str:
    """The runs of a probe store for ``spec`` (or why it cannot be measured)."""
    probe = store.isel(probe=0)
    if spec.metric not in probe:
        return f"the probe store has no metric {spec.metric!r}"
    data = probe[spec.metric]
    if "point" in data.dims:
        if spec.point is None:
            return f"{spec.metric!r} has a value per point; give the target a 'point'"
        data = data.isel(point=spec.point)
    scale = 1.0
    if spec.relative_to is not None:
        if spec.relative_to not in probe:
            return f"the probe store has no metric {spec.relative_to!r}"
        scale = _largest(probe[spec.relative_to].values)
    models = [str(model) for model in probe["model"].values]
    families = dict(zip(models, (str(f) for f in probe["family"].values)))
    return _Runs(
        families=families,
        values={m: np.asarray(data.sel(model=m).values, float).ravel() / scale for m in models},
        truncated=_truncated_seeds(probe, models),
        reasons={m: _reason(store, m, spec.metric) for m in models},
        units="1" if spec.relative_to else str(data.attrs.get("units", "")),
        experiments=tuple(store.attrs.get("experiments", ())),
    )


def _test_runs(
    spec: TargetSpec, metrics: xr.Dataset, families: Mapping[tuple[str, str], str]
) -> _Runs | str:
    """The runs of an experiment's test metrics for ``spec``."""
    if spec.metric not in metrics:
        return f"no test metric {spec.metric!r}"
    if spec.source not in metrics["experiment"].values:
        return f"no test metrics of experiment {spec.source!r}"
    runs = metrics.sel(experiment=spec.source)
    models = [
        str(model)
        for model in runs["model"].values
        if np.isfinite(runs[spec.metric].sel(model=model).values).any()
    ]
    return _Runs(
        families={m: families.get((spec.source, m), "") for m in models},
        values={m: np.asarray(runs[spec.metric].sel(model=m).values, float) for m in models},
        truncated=_truncated_seeds(runs, models),
        reasons={m: "" for m in models},
        units=str(runs[spec.metric].attrs.get("units", "")),
        experiments=(spec.source,),
    )


def _largest(values: np.ndarray) -> float:
    values = np.abs(np.asarray(values, float))
    return float(np.nanmax(values)) if np.isfinite(values).any() else math.nan


def _given(spec: TargetSpec, store: xr.Dataset | None) -> tuple[bool, str]:
    """Whether the target's ``given`` condition holds, and its detail."""
    if spec.given is None:
        return True, ""
    condition = spec.given
    if store is None or condition.metric not in store:
        return False, f"no {condition.metric!r} to check the condition on"
    value = _largest(store[condition.metric].values)
    units = _unit(str(store[condition.metric].attrs.get("units", "")))
    holds = condition.holds(value)
    text = f"{condition.metric} {value:.3g}{units}"
    return holds, text if holds else f"{text}, needs {condition.compare} {condition.bound:g}"


def _others(runs: _Runs, judged: Sequence[str], spec: TargetSpec) -> str:
    """The least favourable value of every other model, for context: ``local 0.0287 eV``."""
    parts = []
    for model in runs.families:
        if model in judged or runs.reasons[model]:
            continue
        values, _ = runs.pool([model])
        if len(values):
            value = values[least_favourable(values, spec.compare, spec.bound)]
            parts.append(f"{model} {value:.3g}{_unit(runs.units)}")
    return ", ".join(parts)


def _group_verdict(spec: TargetSpec, runs: _Runs, given: tuple[bool, str]) -> Verdict:
    judged = runs.selected(spec.models)
    values, truncated = runs.pool(judged)
    if not len(values):
        detail = f"no finite value of {spec.judged_text()}"
        return Verdict(spec, math.nan, False, detail=detail, experiments=runs.experiments)
    value = float(values[least_favourable(values, spec.compare, spec.bound)])
    details = [text for text in (_others(runs, judged, spec), given[1]) if text]
    return Verdict(
        spec,
        value,
        _judge(spec, value) and given[0] and not truncated,
        detail="; ".join(details),
        truncated=tuple(truncated),
        experiments=runs.experiments,
    )


def _ratio_verdict(spec: TargetSpec, runs: _Runs, given: tuple[bool, str]) -> Verdict:
    numerator, denominator = spec.ratio
    top, top_truncated = runs.pool(runs.selected(numerator))
    bottom, bottom_truncated = runs.pool(runs.selected(denominator))
    bottom = bottom[bottom > 0]
    truncated = tuple(top_truncated + bottom_truncated)
    if not len(top) or not len(bottom):
        detail = f"no finite positive value of {numerator.text()} and {denominator.text()}"
        return Verdict(spec, math.nan, False, detail=detail, experiments=runs.experiments)
    ratios = top[:, None] / bottom[None, :]
    index = least_favourable(ratios.ravel(), spec.compare, spec.bound)
    row, column = divmod(index, len(bottom))
    value = float(ratios[row, column])
    units = _unit(runs.units)
    details = [
        f"{denominator.text()} {bottom[column]:.3g}{units}, {numerator.text()} {top[row]:.3g}"
        f"{units}",
        *([given[1]] if given[1] else []),
    ]
    return Verdict(
        spec,
        value,
        _judge(spec, value) and given[0] and not truncated,
        detail="; ".join(details),
        truncated=truncated,
        experiments=runs.experiments,
    )


def _per_model_verdicts(spec: TargetSpec, runs: _Runs, given: tuple[bool, str]) -> list[Verdict]:
    verdicts = []
    for model in runs.families:
        if runs.reasons[model]:
            verdicts.append(
                Verdict(
                    spec,
                    math.nan,
                    False,
                    model=model,
                    reason=runs.reasons[model],
                    experiments=runs.experiments,
                )
            )
            continue
        values, truncated = runs.pool([model])
        value = (
            float(values[least_favourable(values, spec.compare, spec.bound)])
            if len(values)
            else math.nan
        )
        verdicts.append(
            Verdict(
                spec,
                value,
                _judge(spec, value) and given[0] and not truncated,
                model=model,
                detail=given[1],
                truncated=tuple(truncated),
                experiments=runs.experiments,
            )
        )
    return verdicts


def complete(store: xr.Dataset) -> bool:
    """Whether a probe store holds a finite reference and, for every model that can take the
    probe, a finite prediction (for checks without a reference: every metric it can take)."""
    probe = store.isel(probe=0)
    if "not_applicable" in probe:
        # (model, metric_name); as str one by one: a store read back holds numpy's StringDType
        reasons = [[str(reason) for reason in row] for row in probe["not_applicable"].values]
        for i, model in enumerate(probe["model"].values):
            for j, metric in enumerate(probe["metric_name"].values):
                finite = np.isfinite(probe[str(metric)].sel(model=model).values).any()
                if not reasons[i][j] and not finite:
                    return False
        return True
    if "energy_predicted" not in probe:
        curve = probe[store.attrs.get("curve", "energy_mae_per_atom")].values
        per_model = np.isfinite(curve).reshape(curve.shape[0], -1).any(axis=1)
        return bool(np.all(per_model))
    reference_ok = bool(np.all(np.isfinite(probe["energy_reference"].values)))
    per_model = np.any(np.all(np.isfinite(probe["energy_predicted"].values), axis=-1), axis=-1)
    return reference_ok and bool(np.all(per_model))


def _suite_verdict(spec: TargetSpec, stores: Sequence[xr.Dataset]) -> Verdict | None:
    if spec.metric == "incomplete_probe_stores":
        if not stores:
            return None
        done = sum(complete(store) for store in stores)
        value = float(len(stores) - done)
        return Verdict(
            spec, value, _judge(spec, value), detail=f"{done} of {len(stores)} stores complete"
        )
    return Verdict(spec, math.nan, False, detail=f"unknown suite metric {spec.metric!r}")


def evaluate_targets(
    specs: Sequence[TargetSpec],
    stores: Sequence[xr.Dataset],
    metrics: xr.Dataset | None = None,
    families: Mapping[tuple[str, str], str] | None = None,
) -> list[Verdict]:
    """The verdicts of ``specs`` on the probe stores and the combined test metrics (dims
    experiment, model, seed; ``families`` maps ``(experiment, model)`` to its family), in
    declaration order. Targets of probes or experiments not in the report are left out."""
    by_label = {str(store["probe"].values[0]): store for store in stores}
    verdicts: list[Verdict] = []
    for spec in specs:
        if spec.scope == "suite":
            verdict = _suite_verdict(spec, stores)
            verdicts += [verdict] if verdict is not None else []
            continue
        store = by_label.get(spec.source) if spec.scope == "probe" else None
        if spec.scope == "probe" and store is None:
            continue
        if spec.scope == "test" and (
            metrics is None or spec.source not in metrics["experiment"].values
        ):
            continue
        runs = (
            _probe_runs(spec, store)
            if spec.scope == "probe"
            else _test_runs(spec, metrics, families or {})
        )
        if isinstance(runs, str):
            verdicts.append(Verdict(spec, math.nan, False, detail=runs))
            continue
        given = _given(spec, store)
        if spec.per_model:
            verdicts += _per_model_verdicts(spec, runs, given)
        elif spec.ratio is not None:
            verdicts.append(_ratio_verdict(spec, runs, given))
        else:
            verdicts.append(_group_verdict(spec, runs, given))
    return verdicts


def scores(verdicts: Sequence[Verdict]) -> dict[str, dict[str, tuple[int, int]]]:
    """``{experiment: {model: (met, judged)}}`` from the per-model verdicts (n/a not judged)."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for verdict in verdicts:
        if verdict.model is None or not verdict.applicable:
            continue
        for experiment in verdict.experiments:
            met, judged = out.setdefault(experiment, {}).get(verdict.model, (0, 0))
            met += int(verdict.met and not verdict.truncated)
            out[experiment][verdict.model] = (met, judged + 1)
    return out
