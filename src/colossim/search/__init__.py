"""Plan search: the best parallel plan for any model on any cluster, and sweeps of scenarios."""

from colossim.search.engine import SearchResult, search
from colossim.search.space import Constraints

__all__ = ["Constraints", "SearchResult", "search"]
