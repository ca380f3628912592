"""``grade similarity``: pairs of submissions that share more of their own code than chance
explains (winnowed fingerprints per exercise, fingerprints.py; the pairs, pairs.py; the HTML
and JSON report, report.py). See docs/similarity.md."""

from deepgrade.staff.similarity.pairs import SimilarityOptions, SimilarityReport, find_similar

__all__ = ["SimilarityOptions", "SimilarityReport", "find_similar"]
