"""colossim: a digital twin of Colossus-class AI supercomputers.

The public API lives in :mod:`colossim.api`; this module stays light so that
``import colossim`` costs nothing.
"""

__version__ = "0.1.0"
