"""Answer relevance: cosine similarity between answer and reference embeddings."""
import math


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def evaluate(answer_embedding, reference_embedding):
    return {"answer_relevance": cosine(answer_embedding, reference_embedding)}
