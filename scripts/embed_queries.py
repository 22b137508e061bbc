from arseg.queries import read_queries
from arseg.rule_io import logged
from arseg.text_encoder import EmbeddingCache

with logged(snakemake):
    texts = [t for path in snakemake.input.queries for t in read_queries(path)["text"]]
    cache = EmbeddingCache.build(texts)
    cache.save(snakemake.output.embeddings)
    print(f"{len(cache.texts)} distinct query texts encoded")
