"""Machinery shared by the strategies that train adapters (``lora``, ``hypernet``).

Not a plugin (no entry point, no hooks): a library the adapter plugins import, so
neither reaches into the other. One module per concern:

- ``store``: the artifact cache (one folder per key, published in one rename, locked);
- ``publish``: replacing a whole folder atomically (checkpoints, stores, indexes);
- ``safe_state``: optimizer and random state as safetensors (no pickle);
- ``ddp``: DistributedDataParallel helpers under torchrun;
- ``targets``: which modules an adapter adapts;
- ``completion_loss``: the target-token loss of causal LMs;
- ``report``: what a training measured;
- ``settings``: presets, ``--set strategy.KEY=VALUE`` overrides and their coercion.
"""
