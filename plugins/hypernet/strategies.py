"""Strategies ``hypernet-static`` and ``hypernet-evo`` (Code2LoRA), with their controls.

``prepare`` reads every repository it needs (the training pool's and the
evaluated ones) into vectors, trains the hypernetwork across the training
repositories (or loads it from the cache, keyed like the LoRA adapters) and
generates the evaluated repositories' adapters; ``model_for`` returns the
frozen LM with a repository's adapter applied through hooks, after scoring
the controls (`controls`) on the same examples.

Static reads one snapshot per repository: its source tree (``partition.root``)
or, for data that ships vectors instead (RepoPeftBench), the latest commit's
``repo_state_embedding``. Evo starts from the first snapshot (the tree before
the first commit of the track, read from git; else the source tree; else the
first commit's ``repo_state_embedding``) and takes one GRU step per commit
diff; an example introduced by commit k is scored with the adapter after
commit k, an example older than the track with ``h_0``'s.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import numpy as np
import torch

import harness.plugins.hypernet.controls as ctl
from harness.data import CompletionDataset, CompletionExample
from harness.errors import HarnessError
from harness.plugins.hypernet.functional import Adapters, TargetModule, find_targets
from harness.plugins.hypernet.settings import settings_from
from harness.plugins.hypernet.training import Condition, RepositoryInputs, network_inputs
from harness.progress import console
from harness.strategy import PlannedAdapter, Strategy, StrategyContext

PATHLIKE_META = (
    "cache_dir", "source_roots", "split", "eval_split", "limit", "limit_rule", "n_candidates",
)  # fmt: skip


class HypernetStatic(Strategy):
    """One adapter per repository, written by a hypernetwork from the repository's snapshot."""

    name = "hypernet-static"
    task_kinds = ("completion",)
    trains_model = True  # generated adapters go into the model's weights
    evo = False

    def __init__(self, context: StrategyContext) -> None:
        super().__init__(context)
        # --seed seeds the network's initialisation, dropout, batch order and the controls'
        # draws; a strategy.seed given on its own wins (see the LoRA strategies)
        self.settings = settings_from({"seed": context.seed, **context.options})
        self.preset = str(context.options.get("preset", "quick"))
        self.key = ""
        self.network: Any = None
        self.targets: list[TargetModule] = []
        self.adapters: dict[str, Adapters] = {}  # evaluated repository -> its adapter(s)
        self.training: dict[str, Any] = {}
        self.diversity: dict[str, Any] = {}
        self.shuffled_from: dict[str, str] = {}
        self.mean_adapters: dict[str, Adapters] = {}  # evaluated repository -> its control
        self.mean_adapter_n: dict[str, int] = {}  # how many training repositories it averages
        self._reader: Any = None
        self._inputs = RepositoryInputs({})
        self.read_seconds = 0.0  # reading one evaluated repository into its vector(s)
        self.generation_seconds: dict[str, float] = {}  # the network's forward pass, per repo

    # --- what determines the network --------------------------------------------------------

    def _source_identity(self, dataset: CompletionDataset, repo: str) -> str:
        from harness.plugins.hypernet.repo_encoder import fingerprint

        parts: list[Any] = []
        root = dataset.roots.get(repo)
        if root is not None and root.is_dir():
            parts.append(fingerprint(root, self.settings.reader()))
        commits = dataset.commits.get(repo, [])
        if root is None or self.evo:
            parts += [
                (c.index, c.sha, c.repo_state_embedding, c.diff_embedding,
                 hashlib.sha256(c.diff.encode()).hexdigest() if self.evo else "")
                for c in commits
            ]  # fmt: skip
        text = json.dumps(parts, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def _identity(self, dataset: CompletionDataset) -> dict[str, Any]:
        meta = {k: v for k, v in dict(dataset.meta).items() if k not in PATHLIKE_META}
        ids = sorted(e.id for e in dataset.train)
        repos = sorted({e.repo for e in dataset.train})
        return {
            "base_model": self.context.model,
            "base_options": self.context.model_options,
            "dataset": dataset.name,
            "dataset_meta": meta,
            "task": self.context.task.name,
            "strategy": self.name,
            "settings": self.settings.identity(),
            "train_examples": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
            "repositories": {repo: self._source_identity(dataset, repo) for repo in repos},
        }

    def config(self, dataset: Any = None) -> dict[str, Any]:
        from harness.plugins.adapters.store import adapter_key

        out: dict[str, Any] = {
            "name": self.name,
            "preset": self.preset,
            "settings": self.settings.identity(),
            "controls": self.settings.controls,
        }
        if isinstance(dataset, CompletionDataset):
            self.key = adapter_key(self._identity(dataset))
            out["hypernet_key"] = self.key
            out["repositories"] = {
                name: self._source_identity(dataset, name) for name in sorted(dataset.partitions)
            }
        return out

    def planned_adapters(self, dataset: Any) -> list[PlannedAdapter]:
        from harness.plugins.hypernet.store import HypernetStore

        self.config(dataset)
        store = HypernetStore(self.context.cache_dir)
        return [
            PlannedAdapter(
                name="hypernetwork",
                key=self.key,
                cached=store.get(self.key) is not None,
                steps=self.settings.steps,
                steps_done=store.checkpointed_steps(self.key),
            )
        ]

    # --- the vectors it reads ---------------------------------------------------------------

    def reader(self) -> Any:
        from harness.encoder import EncoderOptions
        from harness.plugins.hypernet.repo_encoder import RepositoryReader

        if self._reader is None:
            name = self.settings.encoder
            resolved = self.context.registries["encoders"].get(name, "encoder")
            options = EncoderOptions(
                device=self.context.device,
                max_length=256,
                batch_size=32,
                cache_dir=self.context.cache_dir,
            )
            self._reader = RepositoryReader(
                self.settings.reader(),
                self.context.cache_dir,
                lambda: resolved.load()(resolved.argument, options),
                {"encoder": name},
            )
        return self._reader

    def snapshot_vectors(self, dataset: CompletionDataset, repos: list[str]) -> dict[str, Any]:
        """Static: each repository's source tree, else its latest commit's shipped vector."""
        roots = {
            r: dataset.roots[r] for r in repos if r in dataset.roots and dataset.roots[r].is_dir()
        }
        vectors = dict(self.reader().repository_vectors(roots)) if roots else {}
        for repo in repos:
            if repo not in vectors:
                vectors[repo] = shipped_vector(self.name, dataset, repo, latest=True)
        return vectors

    def condition(self, example: CompletionExample) -> Condition:
        return (example.repo, 0)

    def read_inputs(self, dataset: CompletionDataset, repos: list[str]) -> RepositoryInputs:
        vectors = self.snapshot_vectors(dataset, repos)
        snapshots = {r: torch.as_tensor(np.asarray(vectors[r]), dtype=torch.float32) for r in repos}
        dims = {v.shape[0] for v in snapshots.values()}
        if len(dims) > 1:
            raise HarnessError(f"{self.name}: repository vectors of different sizes {sorted(dims)}")
        return RepositoryInputs(snapshots)

    # --- prepare ----------------------------------------------------------------------------

    def prepare(self, model: Any, dataset: Any) -> None:
        from harness.plugins.adapters.targets import causal_targets

        if not isinstance(dataset, CompletionDataset):
            raise HarnessError(f"{self.name} applies to completion datasets only")
        if not self.key:
            self.config(dataset)
        if not dataset.train:
            raise HarnessError(f"{self.name}: the dataset has no training examples")
        self.targets = find_targets(
            model.model, causal_targets(model.model, self.settings.target_modules)
        )
        evaluated = sorted(dataset.partitions)
        training = sorted({e.repo for e in dataset.train} - set(evaluated))
        self._inputs = self.read_inputs(dataset, training)
        began = time.perf_counter()
        own = self.read_inputs(dataset, evaluated)
        self.read_seconds = (time.perf_counter() - began) / max(1, len(evaluated))
        self._inputs.snapshots.update(own.snapshots)
        self._inputs.diffs.update(own.diffs)
        if self._reader is not None:
            self._reader.release()
        from harness.plugins.hypernet.store import HypernetStore

        store = HypernetStore(self.context.cache_dir)
        with store.claim(self.key):  # another run may be training it: wait for it
            self.network = self._train_or_load(model, dataset, store)
        self._generate(dataset)
        self._prepare_controls(dataset)
        if self.settings.export_dir:
            self._export(model, evaluated)

    def _train_or_load(self, model: Any, dataset: CompletionDataset, store: Any) -> Any:
        from harness.plugins.hypernet.network import HyperNetwork, architecture_for
        from harness.plugins.hypernet.training import train_hypernetwork

        stored = store.cached(self.key)
        if stored is not None:
            console().print(f"{self.name}: hypernetwork cached {stored.path}, not retrained")
            self.training = stored.meta.get("training", {})
            return store.load(stored, self.targets).to(model.device)
        s = self.settings
        first = next(iter(self._inputs.snapshots.values()))
        diffs = [d for d in self._inputs.diffs.values() if len(d)]
        architecture = architecture_for(
            self.targets, int(first.shape[0]), s.r, s.alpha, hidden=s.hidden,
            layer_dim=s.layer_dim, dropout=s.dropout, evo=self.evo,
            diff_dim=int(diffs[0].shape[1]) if diffs else int(first.shape[0]),
            state_dim=s.state_dim, b_scale=s.b_scale,
        )  # fmt: skip
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s.seed)
            network = HyperNetwork(architecture, self.targets)
        train_repos = sorted({e.repo for e in dataset.train})
        network.set_input_statistics(torch.stack([self._inputs.snapshots[r] for r in train_repos]))
        examples = list(dataset.train)
        conditions = [self.condition(e) for e in examples]
        report = train_hypernetwork(
            model, network, examples, conditions, self._inputs, s, store.workdir(self.key),
            description=f"training {self.name}",
        )  # fmt: skip
        self.training = {
            **report.summary(),
            "hypernet_parameters": report.trainable,
            "repositories": report.repositories,
        }
        meta = {"identity": self._identity(dataset), "training": self.training}
        store.save_once(self.key, lambda: store.save(self.key, network, meta))
        console().print(
            f"{self.name}: {report.line()} over {report.repositories} repositories, "
            f"{report.trainable:,} hypernetwork parameters"
        )
        return network

    @torch.no_grad()
    def adapters_for(self, conditions: list[Condition]) -> Adapters:
        constant = self.settings.condition == "constant"
        rows = network_inputs(self.network, self._inputs, conditions, constant=constant)
        return self.network(rows).detach()

    def _generate(self, dataset: CompletionDataset) -> None:
        for name in sorted(dataset.partitions):
            began = time.perf_counter()
            self.adapters[name] = self.adapters_for([(name, 0)])
            self.generation_seconds[name] = time.perf_counter() - began

    def _export(self, model: Any, repos: list[str]) -> None:
        from pathlib import Path

        from harness.plugins.hypernet.functional import export_peft

        folder = Path(self.settings.export_dir)
        for repo in repos:
            export_peft(
                self.current_adapter(repo), self.targets, folder / repo,
                base_model=model.info.get("model"), alpha=self.settings.alpha,
            )  # fmt: skip
        console().print(f"{self.name}: {len(repos)} adapters written to {folder} (PEFT folders)")

    def current_adapter(self, repo: str) -> Adapters:
        """The adapter a repository has now (Static: its only one; Evo: after its last commit)."""
        adapters = self.adapters[repo]
        return adapters.select(adapters.count - 1)

    def _prepare_controls(self, dataset: CompletionDataset) -> None:
        names = sorted(dataset.partitions)
        current = [self.current_adapter(n) for n in names]
        merged = Adapters(
            {p: (torch.cat([a.factors[p][0] for a in current]),
                 torch.cat([a.factors[p][1] for a in current])) for p in current[0].factors},
            current[0].scaling,
        )  # fmt: skip
        self.diversity = ctl.diversity(merged, self.settings.collapse_cosine, names)
        if self.settings.controls:  # the training pool's adapters: only when they are scored
            self._prepare_mean_adapters(dataset, names)
        if len(names) > 1:
            order = ctl.derangement(len(names), self.settings.seed)
            self.shuffled_from = {n: names[j] for n, j in zip(names, order, strict=True)}
        else:
            others = sorted({e.repo for e in dataset.train} - set(names))
            if others:
                pick = others[int(np.random.default_rng(self.settings.seed).integers(len(others)))]
                self.shuffled_from = {names[0]: pick}
                self.adapters.setdefault(pick, self.adapters_for([(pick, 0)]))
        cosine = self.diversity["mean_update_cosine"]
        if self.diversity["collapsed"]:
            console().print(
                f"[yellow]warning:[/] {self.name}: the adapters of the {len(names)} evaluated "
                f"repositories are nearly identical (mean pairwise cosine of their updates "
                f"{cosine:.4f} >= {self.settings.collapse_cosine}): conditioning collapse"
            )

    def final_condition(self, repo: str) -> Condition:
        """The condition of a repository's adapter as it is now (Static: its snapshot)."""
        return (repo, 0)

    def _prepare_mean_adapters(self, dataset: CompletionDataset, names: list[str]) -> None:
        pool = sorted({e.repo for e in dataset.train})
        means = ctl.leave_one_out_means(
            lambda repos: self.adapters_for([self.final_condition(p) for p in repos]),
            pool, names, self.current_adapter, self.settings.r,
        )  # fmt: skip
        self.mean_adapters = {name: mean for name, (mean, _) in means.items()}
        self.mean_adapter_n = {name: n for name, (_, n) in means.items()}

    # --- scoring ------------------------------------------------------------------------------

    def _info(self, model: Any, repo: str) -> dict[str, Any]:
        seconds = self.read_seconds + self.generation_seconds.get(repo, 0.0)
        return {
            **model.info,
            "adapter": f"hypernet {self.key} / {repo}",
            "hypernet_training": {"seconds": self.training.get("seconds"), "key": self.key},
            "adapter_generation": {"seconds": round(seconds, 4), "key": f"{self.key}/{repo}"},
            "one_off": [
                {
                    "what": "hypernet_training",
                    "key": self.key,
                    "seconds": self.training.get("seconds"),
                },
                {
                    "what": "adapter_generation",
                    "key": f"{self.key}/{repo}",
                    "seconds": round(seconds, 4),
                },
            ],  # fmt: skip
            "hypernet": {
                "strategy": self.name,
                "key": self.key,
                "repository": repo,
                "encoder": self.settings.encoder,
                "rank": self.settings.r,
                "condition": self.settings.condition,
                "training": self.training,
            },
        }

    def view(self, model: Any, repo: str, info: dict[str, Any]) -> Any:
        """The frozen LM with the repository's own adapter(s)."""
        return ctl.adapted_view(model, self.adapters[repo], self.targets, info)

    def control_views(self, model: Any, repo: str) -> dict[str, Any]:
        out = {}
        if repo in self.mean_adapters:
            out["mean_adapter"] = ctl.adapted_view(
                model, self.mean_adapters[repo], self.targets, {}
            )
        other = self.shuffled_from.get(repo)
        if other is not None:
            out["shuffled"] = ctl.adapted_view(model, self.current_adapter(other), self.targets, {})
        return out

    def model_for(self, model: Any, partition: Any) -> Any:
        if partition.name not in self.adapters:
            raise HarnessError(f"no adapter generated for repository {partition.name!r}")
        info = self._info(model, partition.name)
        if self.settings.controls:
            info["controls"] = self._score_controls(model, partition)
        return self.view(model, partition.name, info)

    def _score_controls(self, model: Any, partition: Any) -> dict[str, Any]:
        scored: dict[str, list[float]] = {}
        for control, view in self.control_views(model, partition.name).items():
            console().print(f"{partition.name}: control {control}")
            scored[control] = ctl.score_view(self.context, view, partition.eval)
        return {
            "metric": self.context.task.main_score,
            "diversity": self.diversity,
            "shuffled_from": self.shuffled_from.get(partition.name),
            "mean_adapter_of": {
                "repositories": "training repositories other than the scored one",
                "n": self.mean_adapter_n.get(partition.name, 0),
            },
            **{control: ctl.summary(scores) for control, scores in scored.items()},
            "per_example": {"ids": [e.id for e in partition.eval], **scored},
        }


def shipped_vector(strategy: str, dataset: CompletionDataset, repo: str, latest: bool) -> Any:
    """The ``repo_state_embedding`` a dataset ships for `repo` (its latest or first commit's)."""
    shipped = [c for c in dataset.commits.get(repo, []) if c.repo_state_embedding]
    if not shipped:
        raise HarnessError(
            f"{strategy}: repository {repo!r} has neither a source tree nor a "
            "repo_state_embedding to read"
        )
    chosen = shipped[-1] if latest else shipped[0]
    return np.asarray(chosen.repo_state_embedding, dtype=np.float32)
