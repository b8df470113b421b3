"""Encoder plugins: Hugging Face encoders (named and ``hf:<id-or-path>``).

``hf`` registers them (no torch) and adds ``harness models``; ``named`` holds the model
cards of the named ones (``cards``: the card type and how it is shown; ``commands``: the
``harness models`` command); ``card_encoder`` builds an encoder from its card;
``hf_encoder`` is the encoder, ``st_layout`` reads a sentence-transformers folder, and
``hf_load`` loads a model and puts it on its device: what every Hugging Face model
plugin needs (the causal LMs too).
"""
