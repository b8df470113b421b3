"""Encoder plugins: Hugging Face encoders (named and ``hf:<id-or-path>``)."""
