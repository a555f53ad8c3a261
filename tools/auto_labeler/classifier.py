"""Industry from a company's description: sentence embeddings and TF-IDF words, each with a logistic regression.

Their probabilities are averaged: embeddings carry meaning across wording, TF-IDF the rare, telling words
(e.g. "REIT", "midstream") that a 256-token MiniLM view blurs. kNN over embeddings is kept for comparison and
for small label sets. Fixed hyper-parameters: the same code path for any customer's accounts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from core.errors import InvalidInput

METHODS = ("embedding_lr", "embedding_knn", "tfidf_lr", "ensemble")
KNN_K = 7
MIN_EXAMPLES = 4

_SUFFIX = re.compile(r"[,.]?\s*\b(inc|incorporated|corp|corporation|co|company|ltd|limited|plc|group|holdings?|"
                     r"n\.?v|s\.?a|ag|llc|lp)\.?$", re.IGNORECASE)


def mask_names(text: str, names: Sequence[str], placeholder: str = "the company") -> str:
    """Replace a company's names and ticker (and their stem without Inc./Corp.) so only the business is left."""
    variants: set[str] = set()
    for name in names:
        name = (name or "").strip()
        if not name:
            continue
        variants.add(name)
        stem = name
        while True:
            shorter = _SUFFIX.sub("", stem).strip(" ,.")
            if shorter == stem:
                break
            stem = shorter
        if stem:
            variants.add(stem)
    for variant in sorted(variants, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(variant)}(?!\w)", placeholder, text, flags=re.IGNORECASE)
    return text


def _check(texts: Sequence[str], vectors: np.ndarray, labels: Sequence[str] | None = None) -> None:
    if len(texts) != len(vectors):
        raise InvalidInput("vectors", f"{len(vectors)} vectors for {len(texts)} texts")
    if labels is not None:
        if len(labels) != len(texts):
            raise InvalidInput("labels", f"{len(labels)} labels for {len(texts)} texts")
        if len(texts) < MIN_EXAMPLES or len(set(labels)) < 2:
            raise InvalidInput("labels", f"need at least {MIN_EXAMPLES} labeled texts in 2 or more classes, "
                                         f"got {len(texts)} in {len(set(labels))}")


@dataclass
class IndustryClassifier:
    """Fitted on labeled descriptions (text + its embedding); predicts a label with a probability per method."""

    classes: np.ndarray
    embedding_lr: LogisticRegression
    embedding_knn: KNeighborsClassifier
    tfidf: TfidfVectorizer
    tfidf_lr: LogisticRegression

    @classmethod
    def fit(cls, texts: Sequence[str], vectors: np.ndarray, labels: Sequence[str]) -> IndustryClassifier:
        _check(texts, vectors, labels)
        y = np.asarray(labels)
        embedding_lr = LogisticRegression(C=10.0, max_iter=2000).fit(vectors, y)
        knn = KNeighborsClassifier(n_neighbors=min(KNN_K, len(y)), metric="cosine", weights="distance").fit(vectors, y)
        tfidf = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2 if len(y) >= 50 else 1)
        tfidf_lr = LogisticRegression(C=20.0, max_iter=3000).fit(tfidf.fit_transform(texts), y)
        return cls(embedding_lr.classes_, embedding_lr, knn, tfidf, tfidf_lr)

    def probabilities(self, texts: Sequence[str], vectors: np.ndarray, method: str = "ensemble") -> np.ndarray:
        """Rows of class probabilities in the order of `classes`."""
        _check(texts, vectors)
        if method == "embedding_lr":
            return np.asarray(self.embedding_lr.predict_proba(vectors))
        if method == "embedding_knn":
            return np.asarray(self.embedding_knn.predict_proba(vectors))
        if method == "tfidf_lr":
            return np.asarray(self.tfidf_lr.predict_proba(self.tfidf.transform(texts)))
        if method == "ensemble":
            return (self.probabilities(texts, vectors, "embedding_lr")
                    + self.probabilities(texts, vectors, "tfidf_lr")) / 2
        raise InvalidInput("method", f"unknown method {method!r}; known: {', '.join(METHODS)}")

    def predict(self, texts: Sequence[str], vectors: np.ndarray,
                method: str = "ensemble") -> list[tuple[str, float]]:
        """(label, confidence) per text: the most probable class and its probability."""
        probs = self.probabilities(texts, vectors, method)
        best = probs.argmax(axis=1)
        return [(str(self.classes[i]), float(probs[row, i])) for row, i in enumerate(best)]
