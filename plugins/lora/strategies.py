"""Strategies `taskwise` (one adapter for the whole task) and `langwise`
(one adapter per partition: a language for retrieval, a repository for a
task partitioned by repository).

Adapters are trained contrastively on the partitions' training pairs, or
taken from ``--adapter``, and cached by a hash of everything that
determines them; a cached adapter is loaded, never retrained.
"""

from __future__ import annotations

import copy
import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from harness.data import RetrievalDataset, TrainPair
from harness.errors import HarnessError
from harness.progress import console
from harness.strategy import Strategy, StrategyContext

PATHLIKE_META = ("cache_dir", "source_roots")
# what describes the evaluation, not the training data: never part of an adapter's key
EVALUATION_META = ("limit", "limit_rule", "n_candidates", "eval_split", "split", "sizes")


def _balanced(groups: dict[str, list[TrainPair]], seed: int) -> list[TrainPair]:
    """Every partition equally often: smaller ones are resampled up to the largest."""
    rng = np.random.default_rng(seed)
    largest = max(len(pairs) for pairs in groups.values())
    out: list[TrainPair] = []
    for name in sorted(groups):
        pairs = groups[name]
        extra = rng.choice(len(pairs), size=largest - len(pairs), replace=True)
        out += [*pairs, *(pairs[i] for i in extra)]  # pairs may be a lazy sequence
    return out


class LoraStrategy(Strategy):
    """Shared machinery; subclasses say how partitions map to adapters."""

    task_kinds = ("retrieval", "completion")
    trains_model = True  # a model registered trainable=False is refused before data is read

    def __init__(self, context: StrategyContext) -> None:
        super().__init__(context)
        from harness.plugins.lora.config import settings_from

        self.kind = context.task.kind
        # the run's --seed seeds initialisation, dropout and data order; a strategy.seed given
        # on its own wins (so --seed 0 trains exactly the adapters strategy.seed=0 always did)
        self.settings = settings_from(
            {"seed": context.seed, **context.options}, self.kind, context.task.name,
            context.device,
        )  # fmt: skip
        self.preset = str(context.options.get("preset", "quick"))
        self.adapter_option = context.options.get("adapter")
        self._keys: dict[str, str] = {}
        self._paths: dict[str, Path] = {}
        self.reports: dict[str, dict[str, Any]] = {}

    # partition name -> adapter name (the unit that is trained)
    def adapter_of(self, partition: str) -> str:
        raise NotImplementedError

    def _identity(self, dataset: Any, adapter: str) -> dict[str, Any]:
        meta = {k: v for k, v in dict(dataset.meta).items() if k not in PATHLIKE_META}
        members = sorted(p for p in dataset.partitions if self.adapter_of(p) == adapter)
        if self.kind == "completion":
            # what the adapter learns from: its training examples, whatever split is evaluated
            ids = sorted(e.id for e in self._completion_items(dataset, adapter, check=False))
            return {
                "base_model": self.context.model,
                "base_options": self.context.model_options,
                "dataset": dataset.name,
                "dataset_meta": {k: v for k, v in meta.items() if k != "split"},
                "task": self.context.task.name,
                "train_examples": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
                "n_train_examples": len(ids),
                "target_end": "closer-in-open-bracket",  # what ends each learned target
                "strategy": self.name,
                "settings": self.settings.identity(),
            }
        # what the adapter learns from, whatever is evaluated: its own training pairs (hashed
        # in training order); not the evaluation's limit, candidates or other partitions' sizes
        pairs = self._retrieval_pairs(dataset, adapter, check=False)
        text = "\n".join(json.dumps([p.query, p.positive, p.group]) for p in pairs)
        return {
            "base_model": self.context.model,
            "base_options": self.context.model_options,
            "dataset": dataset.name,
            "dataset_meta": {k: v for k, v in meta.items() if k not in EVALUATION_META},
            "task": self.context.task.name,
            "train_split": "train",
            "train_pairs": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "n_train_pairs": len(pairs),
            "partitions": members,
            "strategy": self.name,
            "settings": self.settings.identity(),
        }

    def config(self, dataset: RetrievalDataset | None = None) -> dict[str, Any]:
        from harness.plugins.adapters.store import adapter_key

        out: dict[str, Any] = {
            "name": self.name,
            "preset": self.preset,
            "settings": self.settings.identity(),
        }
        if self.adapter_option:
            out["adapter"] = {k: str(v) for k, v in self._given_adapters(dataset).items()}
            out.pop("settings")
            return out
        if dataset is not None:
            adapters = sorted({self.adapter_of(p) for p in dataset.partitions})
            self._keys = {a: adapter_key(self._identity(dataset, a)) for a in adapters}
            out["adapter_keys"] = self._keys
        return out

    def _given_adapters(self, dataset: RetrievalDataset | None) -> dict[str, Path]:
        raise NotImplementedError

    def planned_adapters(self, dataset: Any) -> list[Any]:
        from harness.plugins.lora.plan import planned_adapters

        return planned_adapters(self, dataset)

    def prepare(self, model: Any, dataset: RetrievalDataset) -> None:
        from harness.plugins.lora.store import AdapterStore

        if self.adapter_option:
            self._paths = self._given_adapters(dataset)
            return
        if not self._keys:
            self.config(dataset)
        store = AdapterStore(self.context.cache_dir)
        mask = bool(self.context.task.options.get("mask_same_group", False))
        for adapter, key in sorted(self._keys.items()):
            with store.claim(key):  # a run training this adapter now finishes first; we load it
                self._train_or_load(model, dataset, store, adapter, key, mask)

    def _train_or_load(
        self, model: Any, dataset: Any, store: Any, adapter: str, key: str, mask: bool
    ) -> None:
        from harness.plugins.lora.trainer import train_lora

        stored = store.cached(key)
        if stored is not None:
            console().print(f"adapter {adapter}: cached {stored.path}, not retrained")
            self._paths[adapter] = stored.path
            self.reports[adapter] = stored.meta.get("training", {})
            return
        description = f"training {self.name} adapter {adapter}"
        if self.kind == "completion":
            from harness.plugins.lora.causal import train_causal_lora

            pairs: list[Any] = self._completion_items(dataset, adapter)
            peft_model, report = train_causal_lora(
                model, pairs, self.settings, store.workdir(key), description=description
            )
        else:
            pairs = self._retrieval_pairs(dataset, adapter)
            peft_model, report = train_lora(
                model, pairs, self.settings, store.workdir(key),
                description=description, mask_same_group=mask,
                query_role=self.context.task.query_role,
            )  # fmt: skip
        peft_model.peft_config["default"].base_model_name_or_path = model.info.get("model")
        training = {
            **report.summary(), "trainable_parameters": report.trainable,
            "total_parameters": report.total, "trainable_share": report.trainable_share,
            "n_pairs": len(pairs),
        }  # fmt: skip
        meta = {
            "key": key,
            "adapter": adapter,
            "identity": self._identity(dataset, adapter),
            "training": training,
        }
        stored = store.save_once(key, lambda: store.save(key, peft_model, meta))
        console().print(
            f"adapter {adapter}: {report.line()}, trainable "
            f"{report.trainable:,} of {report.total:,} ({100 * report.trainable_share:.2f}%)"
        )
        self._paths[adapter] = stored.path
        self.reports[adapter] = training

    def _retrieval_pairs(
        self, dataset: RetrievalDataset, adapter: str, check: bool = True
    ) -> list[TrainPair]:
        groups = {
            name: part.train
            for name, part in sorted(dataset.partitions.items())
            if self.adapter_of(name) == adapter and part.train
        }
        if not groups and not check:
            return []
        if not groups:
            raise HarnessError(f"adapter {adapter!r}: the dataset has no training pairs")
        if self.settings.balanced and len(groups) > 1:
            return _balanced(groups, self.settings.seed)
        return [p for name in sorted(groups) for p in groups[name]]

    def _completion_items(self, dataset: Any, adapter: str, check: bool = True) -> list[Any]:
        """Taskwise: the shared training pool (Code2LoRA's single shared LoRA); langwise: the
        repository's own in-repo training examples (the per-repository upper bound)."""
        if self.adapter_of("") == "task":
            items = list(dataset.train)
        else:
            items = list(dataset.partitions[adapter].train)
        if check and not items:
            if self.adapter_of("") != "task" and dataset.protocol == "cross":
                raise HarnessError(
                    f"{self.name} on {self.context.task.name!r}: a per-repository adapter trains "
                    "on the repository's own in-repo training examples, which a cross-repo "
                    "split does not have; use --split test (in-repo)"
                )
            raise HarnessError(f"adapter {adapter!r}: the dataset has no training examples")
        return items

    def model_for(self, model: Any, partition: Any) -> Any:
        from peft import PeftModel

        adapter = self.adapter_of(partition.name)
        path = self._paths.get(adapter)
        if path is None:
            raise HarnessError(f"no adapter prepared for partition {partition.name!r}")
        _check_base(path, model)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                adapted_model = PeftModel.from_pretrained(copy.deepcopy(model.model), str(path))
        except (RuntimeError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise HarnessError(f"{path}: adapter does not fit this model: {first}") from None
        adapted_model.eval()
        view = copy.copy(model)
        view.model = adapted_model
        training = self.reports.get(adapter, {})
        view.info = {**model.info, "adapter": str(path.name), "adapter_training": training}
        if training.get("seconds") is not None:  # a given --adapter cost nothing here
            view.info["one_off"] = [
                {"what": "adapter_training", "key": str(path.name), "seconds": training["seconds"]}
            ]
        return view


def resolve_adapter(reference: str) -> Path:
    """A local adapter folder, or a hub id fetched into the Hugging Face cache."""
    path = Path(reference)
    if path.is_dir():
        return path
    if path.exists() or reference.startswith((".", "/", "~")) or reference.count("/") != 1:
        raise HarnessError(f"--adapter {reference}: no such adapter folder")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=reference))
    except Exception as exc:  # offline, unknown repo, no permission: one line either way
        raise HarnessError(
            f"--adapter {reference}: not a local folder, and the hub copy could not be fetched "
            f"({type(exc).__name__}); download it and pass its folder: --adapter /path/to/adapter"
        ) from None


def _check_base(path: Path, model: Any) -> None:
    config_file = path / "adapter_config.json"
    if not config_file.exists():
        raise HarnessError(f"{path}: not a PEFT adapter folder (no adapter_config.json)")
    if not (path / "adapter_model.safetensors").is_file():
        raise HarnessError(
            f"{path}: no adapter_model.safetensors; only safetensors adapters are read "
            "(a pickled adapter_model.bin could run code when loaded)"
        )
    base = json.loads(config_file.read_text()).get("base_model_name_or_path")
    known = {model.info.get("model"), model.info.get("source")}
    if base and base not in known and not str(base).endswith(str(model.info.get("model"))):
        raise HarnessError(
            f"{config_file}: base_model_name_or_path: adapter was trained for {base!r}, "
            f"not for this model ({model.info.get('model')!r})"
        )


class TaskWise(LoraStrategy):
    """One adapter trained over every partition of the task's training split."""

    name = "taskwise"

    def adapter_of(self, partition: str) -> str:
        return "task"

    def _given_adapters(self, dataset: RetrievalDataset | None) -> dict[str, Path]:
        return {"task": resolve_adapter(str(self.adapter_option))}


class LangWise(LoraStrategy):
    """One adapter per partition (language, or repository), used for that partition only."""

    name = "langwise"

    def adapter_of(self, partition: str) -> str:
        return partition

    def _given_adapters(self, dataset: RetrievalDataset | None) -> dict[str, Path]:
        given: dict[str, Path] = {}
        for item in str(self.adapter_option).split(","):
            name, sep, folder = item.partition("=")
            if not sep or not name or not folder:
                raise HarnessError(
                    f"--adapter {self.adapter_option!r}: langwise needs PARTITION=PATH[,...]"
                )
            given[name.strip()] = resolve_adapter(folder)
        if dataset is not None:
            missing = sorted(set(dataset.partitions) - set(given))
            if missing:
                raise HarnessError(f"--adapter: no adapter given for partition {missing[0]!r}")
        return given
