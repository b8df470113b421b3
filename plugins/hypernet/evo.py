"""Strategy ``hypernet-evo``: Code2LoRA's Evo, a GRU state updated once per commit diff.

``h_0`` comes from the repository's first snapshot: the tree before the first
commit of its evolution track, read from git; without git, the source tree
as it is; without a tree, the first commit's shipped ``repo_state_embedding``.
Commit k's diff (its ``diff_embedding``, or its text read like files) moves
the state one GRU step. On the evolution track an example introduced by
commit k is scored with the adapter after commit k; an example older than
the track (no ``commit_index``) with ``h_0``'s. Besides Static's controls it
records ``first_snapshot``: every example scored with the ``h_0`` adapter,
i.e. the same network frozen at the first snapshot, so the gain of reading
the commits is paired on the same examples.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

import harness.plugins.hypernet.controls as ctl
from harness.data import CompletionDataset, CompletionExample
from harness.errors import HarnessError
from harness.plugins.hypernet.functional import Adapters
from harness.plugins.hypernet.strategies import HypernetStatic, shipped_vector
from harness.plugins.hypernet.training import Condition, RepositoryInputs


class HypernetEvo(HypernetStatic):
    """An adapter per commit: the GRU state after each diff, from the first snapshot on."""

    name = "hypernet-evo"
    evo = True

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.steps_of: dict[str, dict[int, int]] = {}  # repo -> commit index -> steps
        self.first_sources: dict[str, str] = {}
        self.example_steps: dict[str, dict[str, int]] = {}  # repo -> prefix -> steps

    def snapshot_vectors(self, dataset: CompletionDataset, repos: list[str]) -> dict[str, Any]:
        from harness.plugins.hypernet.repo_encoder import git_snapshot, source_files

        sets: dict[str, list[str]] = {}
        vectors: dict[str, Any] = {}
        settings = self.settings.reader()
        for repo in repos:
            root = dataset.roots.get(repo)
            commits = dataset.commits.get(repo, [])
            if root is None or not root.is_dir():
                vectors[repo] = shipped_vector(self.name, dataset, repo, latest=False)
                self.first_sources[repo] = "repo_state_embedding"
                continue
            files = (
                git_snapshot(root, f"{commits[0].sha}^", settings)
                if commits and commits[0].sha
                else None
            )
            if files is None:
                paths = source_files(root, settings)
                files = {p: (root / p).read_text(encoding="utf-8", errors="replace") for p in paths}
                self.first_sources[repo] = "source tree"
            else:
                self.first_sources[repo] = f"git {commits[0].sha[:12]}^"
            sets[repo] = list(files.values())
        if sets:
            vectors.update(self.reader().vectors_of_file_sets(sets))
        return vectors

    def read_inputs(self, dataset: CompletionDataset, repos: list[str]) -> RepositoryInputs:
        inputs = super().read_inputs(dataset, repos)
        texts: dict[str, list[str]] = {}
        shipped: dict[str, Any] = {}
        for repo in repos:
            commits = dataset.commits.get(repo, [])
            self.steps_of[repo] = {c.index: k + 1 for k, c in enumerate(commits)}
            for k, commit in enumerate(commits):
                if commit.diff_embedding:
                    shipped[f"{repo}\0{k}"] = np.asarray(commit.diff_embedding, dtype=np.float32)
                else:
                    from harness.plugins.hypernet.repo_encoder import diff_sections

                    texts[f"{repo}\0{k}"] = diff_sections(commit.diff)
        vectors = {**(self.reader().vectors_of_file_sets(texts) if texts else {}), **shipped}
        dims = {v.shape[0] for v in vectors.values()}
        if len(dims) > 1:
            raise HarnessError(f"{self.name}: diff vectors of different sizes {sorted(dims)}")
        for repo in repos:
            rows = [vectors[f"{repo}\0{k}"] for k in range(len(dataset.commits.get(repo, [])))]
            if rows:
                inputs.diffs[repo] = torch.as_tensor(np.stack(rows), dtype=torch.float32)
        return inputs

    def condition(self, example: CompletionExample) -> Condition:
        if example.commit_index is None:
            return (example.repo, 0)
        return (example.repo, self.steps_of.get(example.repo, {}).get(example.commit_index, 0))

    def final_condition(self, repo: str) -> Condition:
        return (repo, len(self._inputs.diffs.get(repo, ())))

    def _generate(self, dataset: CompletionDataset) -> None:
        for name in sorted(dataset.partitions):
            began = time.perf_counter()
            commits = len(dataset.commits.get(name, []))
            self.adapters[name] = self.adapters_for([(name, k) for k in range(commits + 1)])
            self.generation_seconds[name] = time.perf_counter() - began

    def _step_adapters(self, repo: str) -> list[Adapters]:
        adapters = self.adapters[repo]
        return [adapters.select(k) for k in range(adapters.count)]

    def view(self, model: Any, repo: str, info: dict[str, Any]) -> Any:
        steps = self._step_adapters(repo)
        by_prefix = {prefix: steps[k] for prefix, k in self.example_steps.get(repo, {}).items()}
        current = steps[-1]
        return ctl.per_example_view(
            model, lambda prefix: by_prefix.get(prefix, current), steps[0], self.targets, info
        )

    def control_views(self, model: Any, repo: str) -> dict[str, Any]:
        out = super().control_views(model, repo)
        out["first_snapshot"] = ctl.adapted_view(
            model, self._step_adapters(repo)[0], self.targets, {}
        )
        return out

    def model_for(self, model: Any, partition: Any) -> Any:
        steps = {example.prefix: self.condition(example)[1] for example in partition.eval}
        self.example_steps[partition.name] = steps
        view = super().model_for(model, partition)
        track = [steps[e.prefix] for e in partition.eval]
        view.info["evolution"] = {
            "commits": self.adapters[partition.name].count - 1,
            "h0_from": self.first_sources.get(partition.name),
            "examples_on_track": sum(1 for k in track if k > 0),
            "steps": track,
        }
        return view
