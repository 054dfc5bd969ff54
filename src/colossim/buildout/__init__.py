"""The build-out twin (issue 15): how a cluster arrives, powers up, burns in and starts training.

Layers, each usable alone:

- :mod:`.config`    the ``buildout:`` scenario section (sourced defaults in ``data/buildout.yaml``)
- :mod:`.schedule`  rack by rack: delivery, install crews, pods and spine cabling; supply MW by day
- :mod:`.plans`     the best plan at each size (``colossim.search``, cached by GPU count)
- :mod:`.simulate`  the day-by-day loop: energize, burn in, join, train, grow
- :mod:`.result`    the plain record (timeline, key days, growth steps, power phases)
- :mod:`.questions` what-ifs: wait for the whole cluster, pod order, power ramp, comparisons
- :mod:`.plot`      matplotlib figure (imported lazily)
"""

from colossim.buildout.config import BuildoutConfig, buildout_config
from colossim.buildout.result import BuildoutResult, run_buildout

__all__ = ["BuildoutConfig", "BuildoutResult", "buildout_config", "run_buildout"]
