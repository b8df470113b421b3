"""Encoder plugins: Hugging Face encoders (named and ``hf:<id-or-path>``).

``hf`` registers them (no torch), ``named`` describes the named ones,
``hf_encoder`` is the encoder, and ``hf_load`` loads a model and puts it on
its device: what every Hugging Face model plugin needs (the causal LMs too).
"""
