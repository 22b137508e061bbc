from arseg.data.queries import read_queries
from arseg.model.text_encoder import EmbeddingCache
from arseg.rule_io import logged

with logged(snakemake):
    texts = [t for path in snakemake.input.queries
             for t, kind in read_queries(path)[["text", "kind"]].itertuples(index=False) if kind != "example"]
    cache = EmbeddingCache.build(texts)
    cache.save(snakemake.output.embeddings)
    print(f"{len(cache.texts)} distinct query texts encoded")
